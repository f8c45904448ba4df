import { expect } from 'chai';
import { BlockBackend, Perm, drainedBegin, drainedEnd } from '@vmkit/block-layer';
import { VirtioFeature, VRING_USED_F_NO_NOTIFY } from '@vmkit/virtio';
import { VirtioBlkStatus as S } from '../src/index.js';
import { withoutFeatures } from '../src/testing/index.js';
import { makeRig, pattern, turns, until, type Rig } from './helpers/rig.js';

describe('virtio-blk dataplane (seed virtio-blk-dataplane.c)', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  it('with an iothread the BlockBackend moves there at DRIVER_OK and back to the main context after reset', async () => {
    rig = await makeRig({ iothread: true, init: false });
    const io = rig.machine.iothread('io0');
    expect(rig.blk().aioContext).to.equal(rig.machine.mainContext);
    rig.driver.init();
    expect(rig.blk().aioContext).to.equal(io);
    expect(rig.node.aioContext).to.equal(io);
    await rig.driver.write(0, pattern(512));
    expect(rig.disk.calls[0].context).to.equal('io0');
    rig.driver.virtio.reset();
    await until(() => rig.blk().aioContext === rig.machine.mainContext);
    expect(rig.node.aioContext).to.equal(rig.machine.mainContext);
  });

  it('kicks are handled in the iothread context, not in the main context', async () => {
    rig = await makeRig({ iothread: true });
    const io = rig.machine.iothread('io0');
    await turns(5);
    rig.driver.submitWrite(0, pattern(512));
    rig.driver.kick();
    rig.machine.mainContext.poll();
    expect(rig.disk.calls).to.have.length(0);
    io.poll();
    expect(rig.disk.calls).to.have.length(1);
    expect(rig.disk.calls[0].context).to.equal('io0');
    await rig.driver.settle();
  });

  it('without an iothread the same code runs in the main context', async () => {
    rig = await makeRig();
    await rig.driver.write(0, pattern(512));
    expect(rig.disk.calls[0].context).to.equal('main');
    expect(rig.blk().aioContext).to.equal(rig.machine.mainContext);
  });

  for (const iothread of [false, true]) {
    const where = iothread ? 'iothread' : 'main';

    it(`submissions happen between plug and unplug and inside a deferred-call section (${where})`, async () => {
      rig = await makeRig({ iothread });
      const reqs = [0, 8, 16].map((s) => rig.driver.submitWrite(s, pattern(512)));
      rig.driver.kick();
      for (const r of reqs) await rig.driver.wait(r);
      expect(rig.disk.calls.map((c) => [c.plugged, c.deferDepth])).to.deep.equal([
        [true, 1],
        [true, 1],
        [true, 1],
      ]);
      expect(rig.disk.plugs).to.equal(rig.disk.unplugs);
      expect(rig.disk.plugs).to.be.greaterThan(0);
    });

    it(`guest kicks are suppressed while the queue is being drained (${where})`, async () => {
      rig = await makeRig({ iothread });
      rig.driver.init({ features: withoutFeatures(VirtioFeature.RING_EVENT_IDX) });
      const flags: number[] = [];
      rig.disk.onCall = () => flags.push(rig.driver.queue.usedFlags);
      // A flush is submitted from inside the pass (reads and writes wait for its end, for merging).
      await rig.driver.flush();
      expect(flags).to.deep.equal([VRING_USED_F_NO_NOTIFY]);
      expect(rig.driver.queue.usedFlags & VRING_USED_F_NO_NOTIFY).to.equal(0);
    });

    it(`a drained section detaches the queue: kicks wait for its end (${where})`, async () => {
      rig = await makeRig({ iothread });
      await rig.driver.write(0, pattern(512, 1));
      await drainedBegin(rig.node);
      const r = rig.driver.submitRead(0, 512);
      rig.driver.kick();
      await turns(20);
      expect(rig.driver.completion(r)).to.equal(undefined);
      expect(rig.disk.ops('read')).to.have.length(0);
      drainedEnd(rig.node);
      const c = await rig.driver.wait(r);
      expect(c.status).to.equal(S.OK);
      expect(c.data).to.deep.equal(pattern(512, 1));
    });

    it(`a dataplane started while the drive is drained does not attach; the end of the section does (${where})`, async () => {
      rig = await makeRig({ iothread, init: false });
      await drainedBegin(rig.node);
      rig.driver.init();
      const r = rig.driver.submitWrite(0, pattern(512, 4));
      rig.driver.kick();
      await turns(20);
      expect(rig.disk.calls).to.have.length(0);
      expect(rig.driver.completion(r)).to.equal(undefined);
      drainedEnd(rig.node);
      expect((await rig.driver.wait(r)).status).to.equal(S.OK);
      expect(rig.disk.bytes(0, 512)).to.deep.equal(pattern(512, 4));
    });
  }

  it('stopping drains first: the BlockBackend stays in the iothread until in-flight requests complete', async () => {
    rig = await makeRig({ iothread: true });
    const io = rig.machine.iothread('io0');
    rig.disk.hold = true;
    rig.driver.submitWrite(0, pattern(512));
    rig.driver.kick();
    await until(() => rig.disk.heldCount === 1);
    rig.driver.virtio.reset();
    await turns(10);
    expect(rig.blk().aioContext).to.equal(io);
    rig.disk.release();
    await until(() => rig.blk().aioContext === rig.machine.mainContext);
    expect(rig.blk().inFlight).to.equal(0);
    // The completion of a request popped before the reset is dropped: nothing in the used ring.
    expect(rig.driver.queue.deviceUsedIdx).to.equal(0);
  });

  it('when another user keeps the drive in the main context, the dataplane falls back to it', async () => {
    rig = await makeRig({ iothread: true, init: false });
    const other = BlockBackend.withNode(rig.node, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.ALL });
    rig.driver.init();
    expect(rig.blk().aioContext).to.equal(rig.machine.mainContext);
    expect((await rig.driver.write(0, pattern(512, 6))).status).to.equal(S.OK);
    expect(rig.disk.calls[0].context).to.equal('main');
    expect(await other.read(0, 512)).to.deep.equal(pattern(512, 6));
    await other.unref();
  });

  it('a guest that kicks before DRIVER_OK gets its requests handled (the kick starts the dataplane)', async () => {
    rig = await makeRig({ iothread: true, init: { driverOk: false } });
    const r = rig.driver.submitWrite(0, pattern(512, 3));
    rig.driver.kick();
    expect((await rig.driver.wait(r)).status).to.equal(S.OK);
    expect(rig.blk().aioContext).to.equal(rig.machine.iothread('io0'));
  });
});
