import { expect } from 'chai';
import { ConfigError, Errno, IOVector, type BlockIoErrorEvent } from '@vmkit/core';
import { BlockBackend, Perm, blockLayerOf, type BlockDriverState } from '../src/index.js';
import { settle } from './helpers-backend/bb-driver.js';
import { blockMachine, rejects } from './helpers/machine.js';

describe('machine: blockLayerPlugin', () => {
  it('registers the built-in drivers and the throttle-group object type', async () => {
    const { m } = await blockMachine();
    expect(m.blockDrivers()).to.include.members(['blkdebug', 'file', 'memory', 'null-co', 'raw']);
    expect(m.objectTypes()).to.include('throttle-group');
    expect(m.blockLayer).to.equal(blockLayerOf(m));
  });

  it('blockdevAdd: nested children in camelCase or QEMU spelling, and node-name references', async () => {
    const { m } = await blockMachine();
    const disk = await m.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk0',
      file: { driver: 'memory', size: 65536 },
    });
    const typed: BlockDriverState = disk;
    expect(typed.nodeName).to.equal('disk0');
    expect(disk.file!.node.driver.name).to.equal('memory');
    await m.blockdevAdd({ driver: 'null-co', 'node-name': 'n0', 'read-zeroes': true, latencyNs: 0 });
    const r = await m.blockdevAdd({ driver: 'raw', nodeName: 'r0', file: 'n0', readOnly: true });
    expect(r.readOnly).to.equal(true);
    expect(r.file!.node.nodeName).to.equal('n0');
    expect(m.blockLayer!.hasBlockdev('n0')).to.equal(true);
    expect(m.blockLayer!.hasBlockdev('nope')).to.equal(false);
  });

  it('blockdevAdd refuses bad options naming the option and the rule', async () => {
    const { m } = await blockMachine();
    await rejects(m.blockdevAdd({ nodeName: 'x' } as never), "Parameter 'driver' is missing");
    await rejects(m.blockdevAdd({ driver: 'memory' }), "'node-name' must be specified for the root node");
    await rejects(
      m.blockdevAdd({ driver: 'qcow9', nodeName: 'x' }),
      "Parameter 'driver' does not accept value 'qcow9'",
    );
    await rejects(m.blockdevAdd({ driver: 'memory', nodeName: 'x', sizee: 1 }), "Invalid parameter 'sizee'");
    await rejects(
      m.blockdevAdd({ driver: 'memory', nodeName: 'x', size: -1 }),
      "Parameter 'size' expects a non-negative number below 2^64",
    );
    await rejects(m.blockdevAdd({ driver: 'memory', nodeName: '1x' }), "Invalid node-name: '1x'");
    await m.blockdevAdd({ driver: 'memory', nodeName: 'x' });
    await rejects(m.blockdevAdd({ driver: 'memory', nodeName: 'x' }), "Duplicate nodes with node-name='x'");
    await rejects(m.blockdevAdd({ driver: 'raw', nodeName: 'y', file: 'nothing' }), /nothing/);
    expect(m.blockLayer!.hasBlockdev('y')).to.equal(false);
    blockLayerOf(m).addBlockBackend('drive0');
    await rejects(
      m.blockdevAdd({ driver: 'memory', nodeName: 'drive0' }),
      'node-name=drive0 is conflicting with a device id',
    );
  });

  it('blockdevDel refuses a node in use, a node the monitor does not own, and an unknown node', async () => {
    const { m } = await blockMachine();
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm0', size: 4096 });
    await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'm0' });
    await m.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk1',
      file: { driver: 'memory', nodeName: 'inner', size: 4096 },
    });
    await rejects(m.blockdevDel('m0'), "Node 'm0' is busy: it is used by node 'disk0' (as 'file')");
    await rejects(m.blockdevDel('inner'), "Node 'inner' is busy: it is used by node 'disk1' (as 'file')");
    const blk = m.blockBackend('disk0');
    blk.attachDev({}, 'vda');
    await rejects(
      m.blockdevDel('disk0'),
      "Node 'disk0' is busy: it is used by block device 'vda' (as 'root')",
    );
    await rejects(m.blockdevDel('nope'), "Failed to find node with node-name='nope'");
    await m.blockdevDel('disk1');
    expect(m.blockLayer!.hasBlockdev('disk1')).to.equal(false);
    expect(m.blockLayer!.hasBlockdev('inner')).to.equal(false);
    await blk.detachDev(blk.attachedDev!);
    await rejects(
      m.blockdevDel('disk0'),
      "Node 'disk0' is busy: it is used by an unnamed block device (as 'root')",
    );
    await blk.unref();
    await m.blockdevDel('disk0');
    await m.blockdevDel('m0');
    expect(blockLayerOf(m).graph.nodes()).to.deep.equal([]);
  });

  it('blockdevDel: a child opened inside another node is not owned by the monitor', async () => {
    const { m } = await blockMachine();
    const disk = await m.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk1',
      file: { driver: 'memory', nodeName: 'inner' },
    });
    const inner = disk.file!.node;
    inner.ref();
    blockLayerOf(m).graph.unrefChild(disk.file!);
    await rejects(m.blockdevDel('inner'), 'Node inner is not owned by the monitor');
    inner.unref();
    expect(inner.deleted).to.equal(true);
  });

  it('blockBackend(): a node gets an anonymous BlockBackend, a name the named one; the caller owns a reference', async () => {
    const { m } = await blockMachine();
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm0', size: 65536 });
    const a: BlockBackend = m.blockBackend('m0');
    const b = m.blockBackend('m0');
    expect(a).to.not.equal(b);
    expect(a.name).to.equal('');
    expect(a.bs!.nodeName).to.equal('m0');
    expect(a.perm).to.equal(Perm.CONSISTENT_READ | Perm.WRITE | Perm.RESIZE);
    await a.write(0, new Uint8Array([9]));
    expect([...(await b.read(0, 1))]).to.deep.equal([9]);
    const layer = blockLayerOf(m);
    const named = layer.addBlockBackend('drive0', { node: 'm0' });
    const again = m.blockBackend('drive0');
    expect(again).to.equal(named);
    expect(named.refcount).to.equal(2);
    expect(() => m.blockBackend('nothing')).to.throw(
      ConfigError,
      "Cannot find device='nothing' nor node-name='nothing'",
    );
    expect(m.blockLayer!.hasBlockdev('drive0')).to.equal(true);
    await a.unref();
    await b.unref();
    await again.unref();
    await layer.deleteBlockBackend('drive0');
    expect(named.deleted).to.equal(true);
  });

  it('BLOCK_IO_ERROR reaches machine.events; action stop pauses the machine afterwards (io-error)', async () => {
    const { m } = await blockMachine();
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm0', size: 65536 });
    const blk = m.blockBackend('m0');
    blk.attachDev({}, 'vda');
    blk.iostatusEnable();
    const log: string[] = [];
    m.events.on('block-io-error', (e: BlockIoErrorEvent) =>
      log.push(`error ${e.device} ${e.operation} ${e.action}`),
    );
    m.events.on('stop', (reason) => log.push(`stop ${reason}`));
    blk.errorAction('report', true, Errno.EIO);
    blk.errorAction(blk.getErrorAction(false, Errno.ENOSPC), false, Errno.ENOSPC);
    expect(m.runState).to.equal('running');
    await settle();
    expect(log).to.deep.equal(['error vda read report', 'error vda write stop', 'stop io-error']);
    expect(m.runState).to.equal('paused');
    expect(m.stopReason).to.equal('io-error');
    expect(blk.iostatus).to.equal('nospace');
    expect(blk.queryBlock()['io-status']).to.equal('nospace');
  });

  it('machine.stop() drains and flushes the block layer (do_vm_stop)', async () => {
    const { m, clock } = await blockMachine();
    await m.blockdevAdd({ driver: 'null-co', nodeName: 'n0', latencyNs: 1000 });
    const blk = m.blockBackend('n0');
    let ret: number | undefined;
    blk.aioPreadv(0, IOVector.fromBuffer(new Uint8Array(512)), 0, (_: null, r: number) => (ret = r), null);
    let stopped = false;
    const p = m.stop().then(() => (stopped = true));
    await settle();
    expect(stopped).to.equal(false);
    await clock.advance(1000);
    expect(ret).to.equal(0);
    expect(stopped).to.equal(false);
    // The flush after the drain waits for the driver too.
    await settle();
    await clock.advance(1000);
    await p;
    expect(m.runState).to.equal('paused');
  });

  it('blockResize by node or device: the device hears of it; errors name the problem', async () => {
    const { m } = await blockMachine();
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm0', size: 65536 });
    const blk = m.blockBackend('m0');
    let resized = 0;
    blk.attachDev({}, 'vda');
    blk.setDevOps({ resize: () => resized++ });
    const layer = blockLayerOf(m);
    await layer.blockResize('m0', 131072);
    expect(resized).to.equal(1);
    expect(await blk.getLength()).to.equal(131072);
    await rejects(layer.blockResize('m0', -1), "Parameter 'size' expects a >0 size");
    await rejects(layer.blockResize('zz', 1), "Cannot find device='zz' nor node-name='zz'");
    layer.addBlockBackend('empty');
    await rejects(layer.blockResize('empty', 1), "Device 'empty' has no medium");
    blk.setPerm(Perm.CONSISTENT_READ | Perm.WRITE, Perm.CONSISTENT_READ | Perm.WRITE);
    await rejects(layer.blockResize('m0', 4096), /does not allow 'resize'/);
  });

  it('queries: query-block lists named and device BlockBackends; query-named-block-nodes lists every node', async () => {
    const { m } = await blockMachine();
    await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: { driver: 'memory', size: 65536 } });
    const layer = blockLayerOf(m);
    const hidden = m.blockBackend('disk0');
    const dev = m.blockBackend('disk0');
    dev.attachDev({}, 'vda');
    layer.addBlockBackend('cd0');
    expect(layer.queryBlock().map((b) => [b.device, b.qdev, b.inserted?.['node-name']])).to.deep.equal([
      ['', 'vda', 'disk0'],
      ['cd0', undefined, undefined],
    ]);
    expect(
      layer.queryBlockstats().map((s) => [s.device, s.qdev, s['node-name'], s.parent?.['node-name']]),
    ).to.deep.equal([
      ['', 'vda', 'disk0', '#block1'],
      ['cd0', undefined, undefined, undefined],
    ]);
    expect(layer.queryNamedBlockNodes().map((n) => [n['node-name'], n.drv])).to.deep.equal([
      ['disk0', 'raw'],
      ['#block1', 'memory'],
    ]);
    await hidden.unref();
  });

  it('machine.destroy() releases the BlockBackends and closes the nodes', async () => {
    const { m } = await blockMachine();
    const disk = await m.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk0',
      file: { driver: 'memory', size: 65536 },
    });
    const layer = blockLayerOf(m);
    layer.addBlockBackend('drive0', { node: 'disk0' });
    const file = disk.file!.node;
    await m.destroy();
    expect([disk.deleted, file.deleted]).to.deep.equal([true, true]);
    expect(layer.backends.backends()).to.deep.equal([]);
  });
});
