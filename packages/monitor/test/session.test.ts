import { expect } from 'chai';
import { blockLayerPlugin } from '@vmkit/block-layer';
import { Machine, VirtualClock } from '@vmkit/core';
import { defineCommand, QmpError, QmpMonitor, type QmpSession, type QmpTransport } from '../src/index.js';

/** A transport that keeps what the session wrote. */
class MemoryTransport implements QmpTransport {
  readonly lines: string[] = [];
  closes = 0;
  write(text: string): void {
    expect(text.endsWith('\r\n')).to.equal(true);
    this.lines.push(text.slice(0, -2));
  }
  close(): void {
    this.closes++;
  }
  messages(): Record<string, unknown>[] {
    return this.lines.map((l) => JSON.parse(l) as Record<string, unknown>);
  }
}

const echo = defineCommand({
  name: 'x-echo',
  args: { text: 'str', '*times': 'int' },
  run(args) {
    return { text: args.text.repeat(args.times ?? 1) };
  },
});

const failing = defineCommand({
  name: 'x-fail',
  args: { '*how': { enum: ['qmp', 'error', 'string'] } },
  run(args) {
    if (args.how === 'qmp') throw new QmpError('DeviceNotActive', 'No active device');
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- what a careless handler might do
    if (args.how === 'string') throw 'plain string';
    throw new Error('something broke');
  },
});

describe('QmpSession without a socket (transport independence)', () => {
  let machine: Machine;
  let monitor: QmpMonitor;

  beforeEach(async () => {
    machine = await Machine.create({ plugins: [blockLayerPlugin], clock: new VirtualClock() });
    monitor = new QmpMonitor(machine, {
      commands: [echo, failing],
      timestamps: () => ({ seconds: 1700000000, microseconds: 123456 }),
    });
  });
  afterEach(async () => {
    monitor.dispose();
    await machine.destroy();
  });

  function open(): { session: QmpSession; out: MemoryTransport } {
    const out = new MemoryTransport();
    const session = monitor.openSession(out);
    return { session, out };
  }

  it('greets at once and negotiates; chunks may split anywhere', async () => {
    const { session, out } = open();
    expect(out.lines).to.have.length(1);
    expect(session.state).to.equal('negotiating');
    session.receive('{"execute": "qmp_capab');
    session.receive(
      new TextEncoder().encode(
        'ilities", "id": 1}{"execute": "x-echo", "arguments": {"text": "ab", "times": 2}}',
      ),
    );
    await session.whenIdle();
    expect(session.state).to.equal('command');
    expect(out.messages().slice(1)).to.deep.equal([{ return: {}, id: 1 }, { return: { text: 'abab' } }]);
  });

  it('registered commands get validated, typed arguments; errors map to their classes', async () => {
    const { session, out } = open();
    session.receive('{"execute":"qmp_capabilities"}');
    session.receive('{"execute":"x-echo","arguments":{"times":2}}');
    session.receive('{"execute":"x-echo","arguments":{"text":"a","times":"2"}}');
    session.receive('{"execute":"x-fail","arguments":{"how":"qmp"}}');
    session.receive('{"execute":"x-fail"}');
    session.receive('{"execute":"x-fail","arguments":{"how":"string"}}');
    await session.whenIdle();
    expect(out.messages().slice(2)).to.deep.equal([
      { error: { class: 'GenericError', desc: "Parameter 'text' is missing" } },
      { error: { class: 'GenericError', desc: "Invalid parameter type for 'times', expected: integer" } },
      { error: { class: 'DeviceNotActive', desc: 'No active device' } },
      { error: { class: 'GenericError', desc: 'something broke' } },
      { error: { class: 'GenericError', desc: 'plain string' } },
    ]);
  });

  it('events go to negotiated sessions only, with the configured timestamp; dispose stops them', async () => {
    const a = open();
    const b = open();
    a.session.receive('{"execute":"qmp_capabilities"}');
    await a.session.whenIdle();
    monitor.emitEvent('X_TEST', { n: 1 });
    expect(a.out.lines.at(-1)).to.equal(
      '{"timestamp": {"seconds": 1700000000, "microseconds": 123456}, "event": "X_TEST", "data": {"n": 1}}',
    );
    expect(b.out.lines).to.have.length(1);
    monitor.dispose();
    expect(a.out.closes).to.equal(1);
    expect(b.out.closes).to.equal(1);
    expect(a.session.state).to.equal('closed');
    await machine.stop();
    expect(a.out.lines.at(-1)).to.contain('X_TEST');
  });

  it('commands run one at a time across sessions, in arrival order', async () => {
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    monitor.commands.register(
      defineCommand({
        name: 'x-slow',
        async run() {
          log.push('slow start');
          await gate;
          log.push('slow end');
        },
      }),
    );
    monitor.commands.register(defineCommand({ name: 'x-fast', run: () => void log.push('fast') }));
    const a = open();
    const b = open();
    a.session.receive('{"execute":"qmp_capabilities"}{"execute":"x-slow"}');
    b.session.receive('{"execute":"qmp_capabilities"}{"execute":"x-fast"}');
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(log).to.deep.equal(['slow start']);
    release();
    await b.session.whenIdle();
    expect(log).to.deep.equal(['slow start', 'slow end', 'fast']);
  });

  it('a session closed while its command runs gets no reply; the peer going away does not close the transport', async () => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    monitor.commands.register(defineCommand({ name: 'x-wait', run: () => gate }));
    const { session, out } = open();
    session.receive('{"execute":"qmp_capabilities"}{"execute":"x-wait"}');
    await new Promise<void>((resolve) => setImmediate(resolve));
    session.disconnected();
    release();
    await session.whenIdle();
    expect(out.lines).to.have.length(2);
    expect(out.closes).to.equal(0);
    expect(monitor.sessions).to.deep.equal([]);
  });

  it('registering a command twice is refused; options.commands may replace a built-in one', async () => {
    expect(() => monitor.commands.register(echo)).to.throw("QMP command 'x-echo' is already registered");
    const custom = new QmpMonitor(machine, {
      commands: [defineCommand({ name: 'query-version', run: () => ({ custom: true }) })],
    });
    try {
      const out = new MemoryTransport();
      const s = custom.openSession(out);
      s.receive('{"execute":"qmp_capabilities"}{"execute":"query-version"}');
      await s.whenIdle();
      expect(out.messages().at(-1)).to.deep.equal({ return: { custom: true } });
    } finally {
      custom.dispose();
    }
  });
});
