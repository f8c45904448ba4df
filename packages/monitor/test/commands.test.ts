import { expect } from 'chai';
import type { RawQmpClient, QmpMessage } from './helpers/qmp-client.js';
import { setup, type Env } from './helpers/setup.js';
import type { ToyDisk } from './helpers/toy-disk.js';

/** QMP's error reply body. */
const generic = (desc: string) => ({ error: { class: 'GenericError', desc } });

describe('QMP commands on a machine with the block layer and a toy disk', () => {
  let env: Env;
  let qmp: RawQmpClient;

  beforeEach(async () => {
    env = await setup();
    qmp = await env.client();
  });
  afterEach(async () => {
    await env.cleanup();
  });

  /** Runs a command that must fail, then proves the machine still runs and answers. */
  async function fails(command: string, args: Record<string, unknown> | undefined): Promise<QmpMessage> {
    const reply = await qmp.execute(command, args);
    expect(reply, `${command} ${JSON.stringify(args)}`).to.have.property('error');
    expect(env.machine.runState).to.equal('running');
    expect(await qmp.execute('query-status')).to.have.nested.property('return.running', true);
    return reply;
  }

  async function ok(command: string, args?: Record<string, unknown>): Promise<unknown> {
    const reply = await qmp.execute(command, args);
    expect(reply, `${command} ${JSON.stringify(args)}`).to.have.property('return');
    return reply.return;
  }

  /** m0 (memory, 64 KiB) under disk0 (raw), and vda on disk0. */
  async function disk(): Promise<void> {
    await ok('blockdev-add', { driver: 'memory', 'node-name': 'm0', size: 65536 });
    await ok('blockdev-add', { driver: 'raw', 'node-name': 'disk0', file: 'm0' });
    await ok('device_add', { driver: 'toy-disk', id: 'vda', drive: 'disk0', werror: 'stop' });
  }

  it('query-version and query-status', async () => {
    expect(await ok('query-version')).to.deep.equal({
      qemu: { micro: 0, minor: 2, major: 8 },
      package: 'vmkit 0.1.0',
    });
    expect(await ok('query-status')).to.deep.equal({ running: true, singlestep: false, status: 'running' });
  });

  it('stop and cont change the run state; both are idempotent', async () => {
    expect(await ok('stop')).to.deep.equal({});
    expect(env.machine.runState).to.equal('paused');
    expect(await ok('query-status')).to.deep.equal({ running: false, singlestep: false, status: 'paused' });
    expect(await ok('stop')).to.deep.equal({});
    expect(await ok('cont')).to.deep.equal({});
    expect(await ok('cont')).to.deep.equal({});
    expect(await ok('query-status')).to.deep.equal({ running: true, singlestep: false, status: 'running' });
  });

  it('blockdev-add, query-named-block-nodes (flat too), blockdev-del', async () => {
    await ok('blockdev-add', { driver: 'memory', 'node-name': 'm0', size: 65536 });
    await ok('blockdev-add', { driver: 'raw', 'node-name': 'disk0', file: 'm0', 'read-only': true });
    const nodes = (await ok('query-named-block-nodes')) as Record<string, unknown>[];
    expect(nodes.map((n) => [n['node-name'], n.drv, n.ro])).to.have.deep.members([
      ['m0', 'memory', false],
      ['disk0', 'raw', true],
    ]);
    const disk0 = nodes.find((n) => n['node-name'] === 'disk0')!;
    expect(disk0).to.have.nested.property('image.virtual-size', 65536);
    const flat = (await ok('query-named-block-nodes', { flat: true })) as Record<string, unknown>[];
    expect(flat).to.have.length(2);
    await ok('blockdev-del', { 'node-name': 'disk0' });
    await ok('blockdev-del', { 'node-name': 'm0' });
    expect(await ok('query-named-block-nodes')).to.deep.equal([]);
  });

  it('blockdev-add errors: missing driver, wrong types, unknown driver, duplicate node name', async () => {
    expect(await fails('blockdev-add', { 'node-name': 'x' })).to.deep.equal(
      generic("Parameter 'driver' is missing"),
    );
    expect(
      await fails('blockdev-add', { driver: 'memory', 'node-name': 'x', 'read-only': 'yes' }),
    ).to.deep.equal(generic("Invalid parameter type for 'read-only', expected: boolean"));
    expect(
      await fails('blockdev-add', { driver: 'memory', 'node-name': 'x', cache: { direct: 1 } }),
    ).to.deep.equal(generic("Invalid parameter type for 'cache.direct', expected: boolean"));
    expect(await fails('blockdev-add', { driver: 'nope', 'node-name': 'x' })).to.deep.equal(
      generic("Parameter 'driver' does not accept value 'nope'"),
    );
    await ok('blockdev-add', { driver: 'memory', 'node-name': 'x' });
    expect(await fails('blockdev-add', { driver: 'memory', 'node-name': 'x' })).to.have.nested.property(
      'error.class',
      'GenericError',
    );
  });

  it('blockdev-del: a node in use, an unknown node, a missing argument', async () => {
    await disk();
    const busy = await fails('blockdev-del', { 'node-name': 'disk0' });
    expect(busy).to.have.nested.property('error.class', 'GenericError');
    expect((busy.error as { desc: string }).desc).to.match(
      /^Node 'disk0' is busy: it is used by block device 'vda'/,
    );
    expect(await fails('blockdev-del', { 'node-name': 'm0' })).to.deep.equal(
      generic("Node 'm0' is busy: it is used by node 'disk0' (as 'file')"),
    );
    expect(await fails('blockdev-del', { 'node-name': 'zz' })).to.deep.equal(
      generic("Failed to find node with node-name='zz'"),
    );
    expect(await fails('blockdev-del', {})).to.deep.equal(generic("Parameter 'node-name' is missing"));
    // Once the device is gone, the node can go.
    await ok('device_del', { id: 'vda' });
    await ok('blockdev-del', { 'node-name': 'disk0' });
  });

  it('device_add and device_del; errors: unknown driver, missing driver, bad property, unknown id', async () => {
    await ok('blockdev-add', { driver: 'memory', 'node-name': 'm0', size: 65536 });
    expect(
      await ok('device_add', { driver: 'toy-disk', id: 'vda', drive: 'm0', rerror: 'ignore' }),
    ).to.deep.equal({});
    expect(env.machine.hasDevice('vda')).to.equal(true);
    expect(env.machine.deviceInfo('vda').properties).to.deep.include({ drive: 'm0', rerror: 'ignore' });
    expect(await fails('device_add', { driver: 'nope', id: 'x' })).to.deep.equal(
      generic("'nope' is not a valid device model name"),
    );
    expect(await fails('device_add', { id: 'x' })).to.deep.equal(generic("Parameter 'driver' is missing"));
    expect(await fails('device_add', { driver: 'toy-disk', id: 5 })).to.deep.equal(
      generic("Invalid parameter type for 'id', expected: string"),
    );
    const bad = await fails('device_add', {
      driver: 'toy-disk',
      id: 'vdb',
      drive: 'm0',
      werror: 'sometimes',
    });
    expect((bad.error as { desc: string }).desc).to.contain("property 'werror'");
    expect(env.machine.hasDevice('vdb')).to.equal(false);
    expect(await ok('device_del', { id: 'vda' })).to.deep.equal({});
    expect(env.machine.hasDevice('vda')).to.equal(false);
    expect(await fails('device_del', { id: 'vda' })).to.deep.equal({
      error: { class: 'DeviceNotFound', desc: "Device 'vda' not found" },
    });
  });

  it('query-block and query-blockstats show the device, its node and its iostatus', async () => {
    await disk();
    const blocks = (await ok('query-block')) as Record<string, unknown>[];
    expect(blocks).to.have.length(1);
    expect(blocks[0]).to.deep.include({ device: '', qdev: 'vda', 'io-status': 'ok' });
    expect(blocks[0]).to.have.nested.property('inserted.node-name', 'disk0');
    expect(blocks[0]).to.have.nested.property('inserted.drv', 'raw');
    await env.machine.device<ToyDisk>('vda').write(0, new Uint8Array(4096).fill(1));
    const stats = (await ok('query-blockstats')) as Record<string, unknown>[];
    expect(stats).to.have.length(1);
    expect(stats[0]).to.deep.include({ device: '', qdev: 'vda', 'node-name': 'disk0' });
    expect(stats[0]).to.have.nested.property('stats.wr_bytes', 4096);
    expect(stats[0]).to.have.nested.property('stats.wr_operations', 1);
    const nodes = (await ok('query-blockstats', { 'query-nodes': true })) as Record<string, unknown>[];
    expect(nodes.map((n) => n['node-name'])).to.have.members(['m0', 'disk0']);
    expect(await fails('query-blockstats', { 'query-nodes': 1 })).to.deep.equal(
      generic("Invalid parameter type for 'query-nodes', expected: boolean"),
    );
  });

  it('block_set_io_throttle by device id; errors: unknown device, both or neither name, missing limits', async () => {
    await disk();
    const limits = { bps: 0, bps_rd: 0, bps_wr: 0, iops: 100, iops_rd: 0, iops_wr: 0 };
    expect(await ok('block_set_io_throttle', { id: 'vda', ...limits, iops_max: 200 })).to.deep.equal({});
    const [info] = (await ok('query-block')) as Record<string, Record<string, unknown>>[];
    expect(info.inserted).to.deep.include({ iops: 100, iops_max: 200, group: 'vda' });
    expect(await fails('block_set_io_throttle', { device: 'nope', ...limits })).to.deep.equal({
      error: { class: 'DeviceNotFound', desc: "Device 'nope' not found" },
    });
    expect(await fails('block_set_io_throttle', { id: 'nope', ...limits })).to.deep.equal({
      error: { class: 'DeviceNotFound', desc: "Device 'nope' not found" },
    });
    expect(await fails('block_set_io_throttle', limits)).to.deep.equal(
      generic("Need exactly one of 'device' and 'id'"),
    );
    expect(await fails('block_set_io_throttle', { id: 'vda', bps: 0 })).to.deep.equal(
      generic("Parameter 'bps_rd' is missing"),
    );
    expect(await fails('block_set_io_throttle', { id: 'vda', ...limits, iops: '5' })).to.deep.equal(
      generic("Invalid parameter type for 'iops', expected: integer"),
    );
    // All zero removes the limits again.
    await ok('block_set_io_throttle', { id: 'vda', ...limits, iops: 0 });
    const [after] = (await ok('query-block')) as Record<string, Record<string, unknown>>[];
    expect(after.inserted).to.not.have.property('group');
  });

  it('block_resize by node name; errors: wrong type, negative size, unknown node, missing size', async () => {
    await ok('blockdev-add', { driver: 'memory', 'node-name': 'm1', size: 65536 });
    expect(await ok('block_resize', { 'node-name': 'm1', size: 131072 })).to.deep.equal({});
    const [node] = (await ok('query-named-block-nodes')) as Record<string, unknown>[];
    expect(node).to.have.nested.property('image.virtual-size', 131072);
    expect(await fails('block_resize', { 'node-name': 'm1', size: '1G' })).to.deep.equal(
      generic("Invalid parameter type for 'size', expected: integer"),
    );
    expect(await fails('block_resize', { 'node-name': 'm1', size: -1 })).to.deep.equal(
      generic("Parameter 'size' expects a >0 size"),
    );
    expect(await fails('block_resize', { 'node-name': 'zz', size: 512 })).to.deep.equal(
      generic("Cannot find device='' nor node-name='zz'"),
    );
    expect(await fails('block_resize', { device: 'm1' })).to.deep.equal(
      generic("Parameter 'size' is missing"),
    );
  });

  it('blockdev-reopen swaps a node option live; errors name the list element', async () => {
    await disk();
    await ok('blockdev-add', { driver: 'memory', 'node-name': 'm1', size: 131072 });
    expect(
      await ok('blockdev-reopen', { options: [{ driver: 'raw', 'node-name': 'disk0', file: 'm1' }] }),
    ).to.deep.equal({});
    const nodes = (await ok('query-named-block-nodes')) as Record<string, unknown>[];
    expect(nodes.find((n) => n['node-name'] === 'disk0')).to.have.nested.property(
      'image.virtual-size',
      131072,
    );
    expect(await fails('blockdev-reopen', { options: [{ 'node-name': 'disk0' }] })).to.deep.equal(
      generic("Parameter 'options[0].driver' is missing"),
    );
    expect(await fails('blockdev-reopen', { options: 'disk0' })).to.deep.equal(
      generic("Invalid parameter type for 'options', expected: array"),
    );
  });

  it('object-add and object-del; errors: unknown type, missing id, unknown object, object in use', async () => {
    expect(await ok('object-add', { 'qom-type': 'iothread', id: 'io0', 'poll-max-ns': 0 })).to.deep.equal({});
    expect(env.machine.iothread('io0').id).to.equal('io0');
    expect(
      await ok('object-add', { 'qom-type': 'throttle-group', id: 'tg0', 'x-iops-total': 1000 }),
    ).to.deep.equal({});
    expect(env.machine.hasObject('tg0')).to.equal(true);
    expect(await fails('object-add', { 'qom-type': 'bogus', id: 'x' })).to.deep.equal(
      generic("Parameter 'qom-type' does not accept value 'bogus'"),
    );
    expect(await fails('object-add', { 'qom-type': 'iothread' })).to.deep.equal(
      generic("Parameter 'id' is missing"),
    );
    expect(await fails('object-add', { 'qom-type': 'iothread', id: 'io0' })).to.have.nested.property(
      'error.class',
      'GenericError',
    );
    // A BlockBackend in the group keeps the object alive.
    await disk();
    const limits = { bps: 0, bps_rd: 0, bps_wr: 0, iops: 10, iops_rd: 0, iops_wr: 0 };
    await ok('block_set_io_throttle', { id: 'vda', ...limits, group: 'tg0' });
    const inUse = await fails('object-del', { id: 'tg0' });
    expect((inUse.error as { desc: string }).desc).to.contain("object 'tg0' is in use");
    expect(await ok('object-del', { id: 'io0' })).to.deep.equal({});
    expect(env.machine.hasObject('io0')).to.equal(false);
    expect(await fails('object-del', { id: 'io0' })).to.deep.equal(generic("object 'io0' not found"));
  });

  it('a command without arguments refuses any: "Parameter \'x\' is unexpected"', async () => {
    expect(await fails('query-status', { x: 1 })).to.deep.equal(generic("Parameter 'x' is unexpected"));
    expect(await fails('stop', { now: true })).to.deep.equal(generic("Parameter 'now' is unexpected"));
  });
});
