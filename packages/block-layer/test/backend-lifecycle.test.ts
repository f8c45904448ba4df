import { expect } from 'chai';
import { BlockError, ConfigError, Errno } from '@vmkit/core';
import {
  BlockBackend,
  Perm,
  blockBackends,
  drainedBegin,
  drainedEnd,
  type BlockDevOps,
} from '../src/index.js';
import { bbBackend, bbNode, newEnv, vec } from './helpers-backend/bb-driver.js';

describe('BlockBackend: references, root node, device (reference §5)', () => {
  it('blk_new starts with one reference and no node; unref at 1 deletes it', async () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    expect(blk.refcount).to.equal(1);
    expect(blk.bs).to.equal(null);
    expect(blockBackends(env.graph).backends()).to.deep.equal([blk]);
    blk.ref();
    await blk.unref();
    expect(blk.refcount).to.equal(1);
    expect(blk.deleted).to.equal(false);
    await blk.unref();
    expect(blk.deleted).to.equal(true);
    expect(blockBackends(env.graph).backends()).to.deep.equal([]);
    expect(() => blk.ref()).to.throw(/deleted/);
  });

  it('blk_unref at 1 drains first: a pending AIO completes before the node is released', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    s.latencyNs = 1000;
    let ret: number | undefined;
    blk.aioPreadv(0, vec(512), 0, (_: null, r: number) => (ret = r), null);
    const done = blk.unref();
    expect(ret).to.equal(undefined);
    await env.clock.advance(1000);
    await done;
    expect(ret).to.equal(0);
    expect(blk.deleted).to.equal(true);
    expect(bs.deleted).to.equal(true);
  });

  it('deleting a BlockBackend with a device attached is refused (QEMU asserts)', async () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    const dev = {};
    expect(blk.attachDev(dev, 'vda')).to.equal(0);
    expect(blk.refcount).to.equal(2);
    await blk.unref();
    let error: unknown;
    try {
      await blk.unref();
    } catch (e) {
      error = e;
    }
    expect(String(error)).to.match(/device attached/);
  });

  it('blk_attach_dev returns -EBUSY when a device is attached; detach drops perms and the reference', async () => {
    const env = newEnv();
    const { blk, bs } = await bbBackend(env, {
      perm: Perm.CONSISTENT_READ | Perm.WRITE,
      sharedPerm: Perm.CONSISTENT_READ,
    });
    const dev = {};
    expect(blk.attachDev(dev, 'vda')).to.equal(0);
    expect(blk.attachDev({}, 'vdb')).to.equal(-Errno.EBUSY);
    expect(blk.attachedDev).to.equal(dev);
    expect(blk.attachedDevId).to.equal('vda');
    expect(blk.refcount).to.equal(2);
    blk.setDevOps({ resize() {} });
    await blk.detachDev(dev);
    expect(blk.attachedDev).to.equal(null);
    expect(blk.devOps).to.equal(null);
    expect([blk.perm, blk.sharedPerm]).to.deep.equal([0, Perm.ALL]);
    expect([blk.root!.perm, blk.root!.sharedPerm]).to.deep.equal([0, Perm.ALL]);
    expect(blk.refcount).to.equal(1);
    expect(() => blk.detachDev(dev)).to.throw(/not the attached device/);
    expect(bs.deleted).to.equal(false);
  });

  it('blk_attach_dev resets the iostatus', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    blk.iostatusEnable();
    blk.iostatusSetErr(Errno.EIO);
    expect(blk.iostatus).to.equal('failed');
    blk.attachDev({});
    expect(blk.iostatus).to.equal('ok');
  });

  it('B5: blk_set_dev_ops while quiesced calls drained_begin at once', async () => {
    const env = newEnv();
    const { blk, bs } = await bbBackend(env);
    const log: string[] = [];
    const ops: BlockDevOps = { drainedBegin: () => log.push('begin'), drainedEnd: () => log.push('end') };
    blk.setDevOps(ops);
    expect(log).to.deep.equal([]);
    await drainedBegin(bs);
    expect(log).to.deep.equal(['begin']);
    const log2: string[] = [];
    blk.setDevOps({ drainedBegin: () => log2.push('begin'), drainedEnd: () => log2.push('end') });
    expect(log2).to.deep.equal(['begin']);
    drainedEnd(bs);
    expect(log2).to.deep.equal(['begin', 'end']);
  });

  it('blk_insert_bs attaches the root with role FILTERED|PRIMARY and the BlockBackend permissions', async () => {
    const env = newEnv();
    const bs = await bbNode(env.graph);
    const blk = new BlockBackend(env.graph, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.CONSISTENT_READ });
    blk.insertBs(bs);
    expect(blk.root!.name).to.equal('root');
    expect(blk.root!.role).to.equal(4 | 16);
    expect([blk.root!.perm, blk.root!.sharedPerm]).to.deep.equal([
      Perm.CONSISTENT_READ,
      Perm.CONSISTENT_READ,
    ]);
    expect(bs.refcount).to.equal(2);
    expect(() => blk.insertBs(bs)).to.throw(/already has a node/);
  });

  it('blk_insert_bs: a permission conflict gives -EPERM (BlockError) with the conflict message and changes nothing', async () => {
    const env = newEnv();
    const bs = await bbNode(env.graph);
    const a = new BlockBackend(env.graph, {
      perm: Perm.CONSISTENT_READ | Perm.WRITE,
      sharedPerm: Perm.CONSISTENT_READ,
    });
    blockBackends(env.graph).monitorAdd(a, 'drive0');
    a.insertBs(bs);
    const b = new BlockBackend(env.graph, { perm: Perm.CONSISTENT_READ | Perm.WRITE, sharedPerm: Perm.ALL });
    let error: unknown;
    try {
      b.insertBs(bs);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(BlockError);
    expect((error as BlockError).errno).to.equal(Errno.EPERM);
    expect((error as BlockError).message).to.equal(
      "Conflicts with use by block device 'drive0' as 'root', which does not allow 'write' on node0",
    );
    expect(b.root).to.equal(null);
    expect(bs.parents.length).to.equal(1);
    expect(bs.refcount).to.equal(2);
  });

  it('the automatic permissions take write and resize unless the node is read-only', async () => {
    const env = newEnv();
    const rw = await bbNode(env.graph, 'rw');
    const ro = await env.graph.openNode({ driver: 'bbtest', 'node-name': 'ro', 'read-only': true });
    const a = BlockBackend.withNode(rw);
    const b = BlockBackend.withNode(ro);
    expect(a.perm).to.equal(Perm.CONSISTENT_READ | Perm.WRITE | Perm.RESIZE);
    expect(b.perm).to.equal(Perm.CONSISTENT_READ);
    expect(b.isReadOnly()).to.equal(true);
    const c = new BlockBackend(env.graph, { perm: Perm.WRITE });
    expect(() => c.insertBs(ro)).to.throw(BlockError, 'Block node is read-only');
  });

  it('blk_remove_bs notifies, drains and detaches the root; the BlockBackend remembers the root state', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    const log: string[] = [];
    blk.events.on('remove-bs', () => log.push(`remove (root ${blk.root !== null})`));
    s.latencyNs = 500;
    let ret: number | undefined;
    blk.aioPwritev(0, vec(512, 1), 0, (_: null, r: number) => (ret = r), null);
    const removing = blk.removeBs();
    expect(log).to.deep.equal(['remove (root true)']);
    await env.clock.advance(500);
    await removing;
    expect(ret).to.equal(0);
    expect(blk.root).to.equal(null);
    expect(bs.deleted).to.equal(true);
    expect(blk.rootState.readOnly).to.equal(false);
    expect(await blk.coPreadv(0, 512, vec(512))).to.equal(-Errno.ENOMEDIUM);
  });

  it('insert notifiers run after the node is attached', async () => {
    const env = newEnv();
    const bs = await bbNode(env.graph);
    const blk = new BlockBackend(env.graph);
    const seen: (string | undefined)[] = [];
    const dispose = blk.events.on('insert-bs', () => seen.push(blk.bs?.nodeName));
    blk.insertBs(bs);
    dispose();
    await blk.removeBs();
    blk.insertBs(bs);
    expect(seen).to.deep.equal(['node0']);
  });

  it('blk_set_perm: a refused change keeps the old permissions', async () => {
    const env = newEnv();
    const bs = await bbNode(env.graph);
    const a = BlockBackend.withNode(bs, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.CONSISTENT_READ });
    const b = BlockBackend.withNode(bs, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.ALL });
    expect(() => b.setPerm(Perm.CONSISTENT_READ | Perm.WRITE, Perm.ALL)).to.throw(
      ConfigError,
      /does not allow 'write'/,
    );
    expect([b.perm, b.root!.perm]).to.deep.equal([Perm.CONSISTENT_READ, Perm.CONSISTENT_READ]);
    a.setPerm(Perm.CONSISTENT_READ, Perm.ALL);
    b.setPerm(Perm.CONSISTENT_READ | Perm.WRITE, Perm.ALL);
    expect(b.root!.perm).to.equal(Perm.CONSISTENT_READ | Perm.WRITE);
  });

  it('the monitor name follows QEMU: well-formed, unique, not a node name', async () => {
    const env = newEnv();
    await bbNode(env.graph, 'disk0');
    const reg = blockBackends(env.graph);
    const a = new BlockBackend(env.graph);
    const b = new BlockBackend(env.graph);
    expect(() => reg.monitorAdd(a, '0bad')).to.throw('Invalid device name');
    expect(() => reg.monitorAdd(a, 'disk0')).to.throw(
      "Device name 'disk0' conflicts with an existing node name",
    );
    reg.monitorAdd(a, 'drive0');
    expect(() => reg.monitorAdd(b, 'drive0')).to.throw("Device with id 'drive0' already exists");
    expect(reg.byName('drive0')).to.equal(a);
    expect(a.name).to.equal('drive0');
    reg.monitorRemove(a);
    expect(a.name).to.equal('');
    expect(reg.byName('drive0')).to.equal(undefined);
  });

  it('the permission description names the BlockBackend, its device, or "an unnamed block device"', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    expect(blk.rootParent.description()).to.equal('an unnamed block device');
    blk.attachDev({}, 'vda');
    expect(blk.rootParent.description()).to.equal("block device 'vda'");
    blockBackends(env.graph).monitorAdd(blk, 'drive0');
    expect(blk.rootParent.description()).to.equal("block device 'drive0'");
  });

  it('resize of the node reaches the device (blk_root_resize)', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    let resized = 0;
    blk.setDevOps({ resize: () => resized++ });
    await blk.truncate(2 * 1024 * 1024);
    expect(resized).to.equal(1);
    expect(await blk.getLength()).to.equal(2 * 1024 * 1024);
  });

  it('media callbacks: removable without device or with changeMedia; tray-moved when the tray moves', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    expect(blk.devHasRemovableMedia()).to.equal(true);
    blk.attachDev({}, 'cd0');
    expect(blk.devHasRemovableMedia()).to.equal(false);
    let open = false;
    blk.setDevOps({
      changeMedia: (load) => (open = !load),
      isTrayOpen: () => open,
      isMediumLocked: () => true,
    });
    const moved: boolean[] = [];
    blk.events.on('tray-moved', (e) => moved.push(e.trayOpen));
    expect([blk.devHasRemovableMedia(), blk.devHasTray(), blk.devIsMediumLocked()]).to.deep.equal([
      true,
      true,
      true,
    ]);
    blk.devChangeMedia(false);
    blk.devChangeMedia(false);
    blk.devChangeMedia(true);
    expect(moved).to.deep.equal([true, false]);
  });
});
