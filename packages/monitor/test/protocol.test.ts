import { expect } from 'chai';
import { existsSync, unlinkSync, writeFileSync } from 'node:fs';
import sinon from 'sinon';
import { QmpServer, QmpSession } from '../src/index.js';
import { RawQmpClient, type QmpMessage } from './helpers/qmp-client.js';
import { setup, type Env } from './helpers/setup.js';

describe('QMP protocol over a unix socket', () => {
  let env: Env;
  beforeEach(async () => {
    env = await setup();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  /** The machine answers normally and is still running. */
  async function stillRunning(client: RawQmpClient): Promise<void> {
    expect(await client.execute('query-status')).to.deep.equal({
      return: { running: true, singlestep: false, status: 'running' },
    });
    expect(env.machine.runState).to.equal('running');
  }

  it('greets with {"QMP": {"version": ..., "capabilities": []}} terminated by CRLF', async () => {
    const client = await env.rawClient();
    const greeting = await client.greeting();
    expect(greeting).to.deep.equal({
      QMP: { version: { qemu: { major: 8, minor: 2, micro: 0 }, package: 'vmkit 0.1.0' }, capabilities: [] },
    });
    expect(client.text).to.equal(
      '{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 8}, "package": "vmkit 0.1.0"}, "capabilities": []}}\r\n',
    );
  });

  it('negotiation mode: any command but qmp_capabilities is CommandNotFound with the hint, id echoed', async () => {
    const client = await env.rawClient();
    await client.greeting();
    expect(await client.execute('query-status', undefined, 7)).to.deep.equal({
      error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" },
      id: 7,
    });
    expect(await client.execute('no-such-command')).to.deep.equal({
      error: { class: 'CommandNotFound', desc: "Expecting capabilities negotiation with 'qmp_capabilities'" },
    });
    expect(await client.execute('qmp_capabilities', { enable: ['oob'] })).to.deep.equal({
      error: { class: 'GenericError', desc: 'Capability oob not available' },
    });
    expect(await client.execute('qmp_capabilities', { enable: ['bogus'] })).to.deep.equal({
      error: { class: 'GenericError', desc: "Parameter 'enable[0]' does not accept value 'bogus'" },
    });
    expect(await client.execute('qmp_capabilities', undefined, 'neg')).to.deep.equal({
      return: {},
      id: 'neg',
    });
    expect(await client.execute('qmp_capabilities')).to.deep.equal({
      error: {
        class: 'CommandNotFound',
        desc: 'Capabilities negotiation is already complete, command ignored',
      },
    });
    await stillRunning(client);
  });

  it('echoes any JSON id, on success and on error', async () => {
    const client = await env.client();
    for (const id of [1, 'a', { x: [1, null] }, null, 2.5]) {
      expect(await client.execute('query-version', undefined, id))
        .to.have.property('id')
        .that.deep.equals(id);
      expect(await client.execute('nope', undefined, id))
        .to.have.property('id')
        .that.deep.equals(id);
    }
  });

  it('unknown command: CommandNotFound "The command X has not been found"', async () => {
    const client = await env.client();
    expect(await client.execute('frobnicate', {}, 3)).to.deep.equal({
      error: { class: 'CommandNotFound', desc: 'The command frobnicate has not been found' },
      id: 3,
    });
    await stillRunning(client);
  });

  it('malformed JSON: GenericError "JSON parse error, ...", no id, the connection stays usable', async () => {
    const client = await env.client();
    client.write('{ "execute": }\n');
    expect(await client.response()).to.deep.equal({
      error: { class: 'GenericError', desc: 'JSON parse error, expecting value' },
    });
    client.write('{"execute": "query-status", "id": tru}\n');
    expect(await client.response()).to.deep.equal({
      error: { class: 'GenericError', desc: "JSON parse error, invalid keyword 'tru'" },
    });
    client.write('{"execute": #oops\n');
    expect(await client.response()).to.deep.equal({
      error: { class: 'GenericError', desc: "JSON parse error, stray '#'" },
    });
    await stillRunning(client);
  });

  it('malformed requests: not an object, bad or unexpected members, missing execute', async () => {
    const client = await env.client();
    const cases: [string, string][] = [
      ['[1, 2]', 'QMP input must be a JSON object'],
      ['"query-status"', 'QMP input must be a JSON object'],
      ['{"execute": 1, "id": 4}', "QMP input member 'execute' must be a string"],
      ['{"execute": "stop", "arguments": [], "id": 4}', "QMP input member 'arguments' must be an object"],
      ['{"execute": "stop", "extra": 1, "id": 4}', "QMP input member 'extra' is unexpected"],
      ['{"exec-oob": "stop", "id": 4}', "QMP input member 'exec-oob' is unexpected"],
      ['{"arguments": {}, "id": 4}', "QMP input lacks member 'execute'"],
    ];
    for (const [request, desc] of cases) {
      client.write(request);
      const reply = await client.response();
      expect(reply.error, request).to.deep.equal({ class: 'GenericError', desc });
      if (request.startsWith('{')) expect(reply.id, request).to.equal(4);
    }
    await stillRunning(client);
  });

  it('a request split across writes is answered once complete, exactly once', async () => {
    const client = await env.client();
    // Observe the server's reads, so each piece is known to have arrived on its own.
    const chunks: string[] = [];
    let arrived: (() => void) | undefined;
    const receive = sinon.stub(QmpSession.prototype, 'receive').callsFake(function (this: QmpSession, chunk) {
      chunks.push(Buffer.from(chunk).toString());
      receive.wrappedMethod.call(this, chunk);
      arrived?.();
    });
    try {
      const request = '{"execute": "query-version", "id": "split"}\n';
      for (const piece of [request.slice(0, 5), request.slice(5, 17), request.slice(17)]) {
        const got = new Promise<void>((resolve) => (arrived = resolve));
        client.write(piece);
        await got;
      }
      expect(chunks).to.deep.equal(['{"exe', 'cute": "quer', 'y-version", "id": "split"}\n']);
      expect(await client.response()).to.deep.equal({
        return: { qemu: { major: 8, minor: 2, micro: 0 }, package: 'vmkit 0.1.0' },
        id: 'split',
      });
    } finally {
      receive.restore();
    }
    await stillRunning(client);
    expect(client.received.filter((m) => m.id === 'split')).to.have.length(1);
  });

  it('a request delivered byte by byte is answered once complete', async () => {
    const client = await env.client();
    const request = Buffer.from('{"execute": "query-version", "id": "bytes"}\r\n');
    for (const byte of request) client.write(Buffer.from([byte]));
    expect(await client.response()).to.deep.equal({
      return: { qemu: { major: 8, minor: 2, micro: 0 }, package: 'vmkit 0.1.0' },
      id: 'bytes',
    });
  });

  it('several requests in one write are answered in order', async () => {
    const client = await env.client();
    client.write(
      '{"execute":"query-status","id":1}{"execute":"nope","id":2}  {"execute":"query-version","id":3}\n',
    );
    const replies: QmpMessage[] = [await client.response(), await client.response(), await client.response()];
    expect(replies.map((r) => r.id)).to.deep.equal([1, 2, 3]);
    expect(replies[1]).to.have.nested.property('error.class', 'CommandNotFound');
  });

  it('query-commands lists every built-in command', async () => {
    const client = await env.client();
    const reply = await client.execute('query-commands');
    const names = (reply.return as { name: string }[]).map((c) => c.name).sort();
    expect(names).to.deep.equal(
      [
        'block_resize',
        'block_set_io_throttle',
        'blockdev-add',
        'blockdev-del',
        'blockdev-reopen',
        'cont',
        'device_add',
        'device_del',
        'object-add',
        'object-del',
        'qmp_capabilities',
        'query-block',
        'query-blockstats',
        'query-commands',
        'query-named-block-nodes',
        'query-status',
        'query-version',
        'quit',
        'stop',
      ].sort(),
    );
  });

  it('serves several clients at once; each negotiates on its own', async () => {
    const a = await env.client();
    const b = await env.rawClient();
    await b.greeting();
    expect(env.server.connections).to.equal(2);
    expect(await b.execute('query-status')).to.have.nested.property('error.class', 'CommandNotFound');
    expect(await a.execute('query-status')).to.have.property('return');
    a.end();
    await a.closed;
    expect(await b.execute('qmp_capabilities')).to.deep.equal({ return: {} });
    await stillRunning(b);
  });

  it('close() stops listening, closes the connections and removes the socket; listening again works', async () => {
    const client = await env.client();
    await env.server.close();
    await client.closed;
    expect(existsSync(env.path)).to.equal(false);
    expect(env.server.monitor.disposed).to.equal(true);
    writeFileSync(env.path, 'not a socket');
    const refused = await QmpServer.listen(env.machine, env.path).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(refused).to.have.property('code', 'EADDRINUSE');
    expect(existsSync(env.path)).to.equal(true);
    unlinkSync(env.path);
    const again = await QmpServer.listen(env.machine, env.path);
    try {
      const c = await RawQmpClient.negotiated(env.path);
      await stillRunning(c);
      c.destroy();
    } finally {
      await again.close();
    }
  });
});
