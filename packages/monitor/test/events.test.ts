import { expect } from 'chai';
import { existsSync } from 'node:fs';
import { isResponse, RawQmpClient, type QmpMessage } from './helpers/qmp-client.js';
import { setup, type Env } from './helpers/setup.js';
import type { ToyDisk } from './helpers/toy-disk.js';

describe('QMP events', () => {
  let env: Env;
  afterEach(async () => {
    await env?.cleanup();
  });

  it('STOP and RESUME on stop/cont, STOP before the reply; timestamps from the machine clock', async () => {
    env = await setup();
    const qmp = await env.client();
    await env.clock.advance(1_500_000_000);
    expect(await qmp.execute('stop', undefined, 's')).to.deep.equal({ return: {}, id: 's' });
    const stop = await qmp.event('STOP');
    // VirtualClock started at 5.000123456 s, then advanced 1.5 s: microseconds are truncated.
    expect(stop).to.deep.equal({ timestamp: { seconds: 6, microseconds: 500123 }, event: 'STOP' });
    const order = qmp.received.filter((m) => m.event === 'STOP' || m.id === 's');
    expect(order.map((m) => (isResponse(m) ? 'reply' : m.event))).to.deep.equal(['STOP', 'reply']);
    await qmp.execute('cont');
    expect(await qmp.event('RESUME')).to.deep.equal({
      timestamp: { seconds: 6, microseconds: 500123 },
      event: 'RESUME',
    });
    // Idempotent commands raise no events.
    await qmp.execute('cont');
    await qmp.execute('query-status');
    expect(qmp.unreadEvents()).to.deep.equal([]);
  });

  it('events reach every negotiated session, and none that is still negotiating', async () => {
    env = await setup();
    const a = await env.client();
    const b = await env.client();
    const pending = await env.rawClient();
    await pending.greeting();
    env.machine.events.emit('stop', 'user');
    await a.event('STOP');
    await b.event('STOP');
    // Anything sent to `pending` before would arrive before this reply.
    await pending.execute('qmp_capabilities');
    expect(pending.received.filter((m) => 'event' in m)).to.deep.equal([]);
  });

  it('DEVICE_DELETED carries the id and the QOM path', async () => {
    env = await setup();
    const qmp = await env.client();
    await qmp.execute('blockdev-add', { driver: 'memory', 'node-name': 'm0', size: 4096 });
    await qmp.execute('device_add', { driver: 'toy-disk', id: 'vda', drive: 'm0' });
    expect(await qmp.execute('device_del', { id: 'vda' })).to.deep.equal({ return: {} });
    const event = await qmp.event('DEVICE_DELETED');
    expect(event.data).to.deep.equal({ device: 'vda', path: '/machine/peripheral/vda' });
    expect(event.timestamp).to.have.keys(['seconds', 'microseconds']);
  });

  /** raw (disk0) over blkdebug injecting `errno` on writes, over 1 MiB of memory. */
  async function faultyDisk(qmp: RawQmpClient, errno: number, werror: string): Promise<ToyDisk> {
    const added = await qmp.execute('blockdev-add', {
      driver: 'raw',
      'node-name': 'disk0',
      file: {
        driver: 'blkdebug',
        'node-name': 'dbg',
        'inject-error': [{ event: 'write_aio', errno }],
        image: { driver: 'memory', 'node-name': 'mem', size: 1048576 },
      },
    });
    expect(added).to.deep.equal({ return: {} });
    expect(
      await qmp.execute('device_add', { driver: 'toy-disk', id: 'vda', drive: 'disk0', werror }),
    ).to.deep.equal({
      return: {},
    });
    return env.machine.device<ToyDisk>('vda');
  }

  it('BLOCK_IO_ERROR from a blkdebug-injected EIO with werror=stop, then STOP; cont resets iostatus and resumes', async () => {
    env = await setup();
    const qmp = await env.client();
    const vda = await faultyDisk(qmp, 5, 'stop');
    expect(await vda.write(0, new Uint8Array(512))).to.equal(-5);
    const error = await qmp.event('BLOCK_IO_ERROR');
    expect(error.data).to.deep.equal({
      device: 'vda',
      'node-name': 'disk0',
      operation: 'write',
      action: 'stop',
      nospace: false,
      reason: 'Input/output error',
    });
    await qmp.event('STOP');
    expect(await qmp.execute('query-status')).to.deep.equal({
      return: { running: false, singlestep: false, status: 'io-error' },
    });
    const [paused] = (await qmp.execute('query-block')).return as QmpMessage[];
    expect(paused['io-status']).to.equal('failed');
    expect(await qmp.execute('cont')).to.deep.equal({ return: {} });
    await qmp.event('RESUME');
    const [resumed] = (await qmp.execute('query-block')).return as QmpMessage[];
    expect(resumed['io-status']).to.equal('ok');
    expect(env.machine.runState).to.equal('running');
  });

  it('BLOCK_IO_ERROR: ENOSPC under werror=enospc sets nospace; werror=report omits it and keeps running', async () => {
    env = await setup();
    const qmp = await env.client();
    const vda = await faultyDisk(qmp, 28, 'enospc');
    await vda.write(0, new Uint8Array(512));
    expect((await qmp.event('BLOCK_IO_ERROR')).data).to.deep.include({ action: 'stop', nospace: true });
    await qmp.event('STOP');
    await qmp.execute('cont');
    await qmp.execute('device_del', { id: 'vda' });
    await qmp.execute('device_add', { driver: 'toy-disk', id: 'vdb', drive: 'disk0', werror: 'report' });
    await env.machine.device<ToyDisk>('vdb').write(0, new Uint8Array(512));
    const report = await qmp.event('BLOCK_IO_ERROR');
    expect(report.data).to.deep.equal({
      device: 'vdb',
      'node-name': 'disk0',
      operation: 'write',
      action: 'report',
      reason: 'No space left on device',
    });
    expect(await qmp.execute('query-status')).to.have.nested.property('return.running', true);
  });

  it('quit: the reply, then SHUTDOWN to every session, connections closed, onQuit called, socket removed', async () => {
    let quits = 0;
    env = await setup({ onQuit: () => void quits++ });
    const a = await env.client();
    const b = await env.client();
    expect(await a.execute('quit', undefined, 'q')).to.deep.equal({ return: {}, id: 'q' });
    const shutdown = { event: 'SHUTDOWN', data: { guest: false, reason: 'host-qmp-quit' } };
    expect(await a.event('SHUTDOWN')).to.deep.include(shutdown);
    expect(await b.event('SHUTDOWN')).to.deep.include(shutdown);
    await a.closed;
    await b.closed;
    expect(a.received.at(-1)).to.have.property('event', 'SHUTDOWN');
    expect(quits).to.equal(1);
    expect(existsSync(env.path)).to.equal(false);
    expect(env.server.monitor.sessions).to.deep.equal([]);
  });

  it('wall-clock timestamps by default (QEMU: g_get_real_time)', async () => {
    env = await setup({ timestamps: 'wall' });
    const qmp = await env.client();
    const before = Date.now();
    await qmp.execute('stop');
    const after = Date.now();
    const { seconds, microseconds } = (await qmp.event('STOP')).timestamp as Record<string, number>;
    const ms = seconds * 1000 + microseconds / 1000;
    expect(Number.isInteger(seconds) && Number.isInteger(microseconds)).to.equal(true);
    expect(microseconds).to.be.within(0, 999_999);
    expect(ms).to.be.within(before, after);
  });
});
