import { expect } from 'chai';
import { VirtioFeature } from '@vmkit/virtio';
import { VirtioBlkStatus as S } from '../src/index.js';
import { withoutFeatures } from '../src/testing/index.js';
import { makeRig, pattern, turns, until, type Rig } from './helpers/rig.js';

for (const iothread of [false, true]) {
  describe(`virtio-blk guest notifications (${iothread ? 'iothread' : 'main context'})`, () => {
    let rig: Rig;
    beforeEach(async () => {
      rig = await makeRig({ iothread });
    });
    afterEach(async () => {
      await rig.machine.destroy();
    });

    it('test_idx: with EVENT_IDX one interrupt covers two requests when the driver asks for it', async () => {
      const d = rig.driver;
      expect(d.eventIdx).to.equal(true);
      await d.write(0, pattern(512, 1));
      await until(() => d.interrupts === 1);
      // Interrupt only once used.idx passes 2, i.e. after the third request (used_event = 2).
      d.rearm = false;
      d.queue.setUsedEvent(2);
      const b = d.submitWrite(1, pattern(512, 2));
      d.kick();
      await until(() => d.queue.deviceUsedIdx === 2);
      await turns(5);
      expect(d.interrupts).to.equal(1);
      const c = d.submitRead(1, 512);
      d.kick();
      await until(() => d.interrupts === 2);
      const done = d.takeCompletions();
      expect(done.map((x) => x.request)).to.deep.equal([b, c]);
      expect(done.map((x) => x.status)).to.deep.equal([S.OK, S.OK]);
      expect(done[1].data).to.deep.equal(pattern(512, 2));
    });

    it('completions of one pass are signalled by a single interrupt (bottom-half batching)', async () => {
      const d = rig.driver;
      const reqs = [0, 10, 20, 30, 40, 50, 60, 70].map((s) => d.submitRead(s, 512));
      d.kick();
      // The driver reaps from its interrupt handler only.
      await until(() => d.interrupts === 1);
      await turns(10);
      expect(d.interrupts).to.equal(1);
      expect(rig.disk.ops('read')).to.have.length(8);
      expect(d.takeCompletions().map((c) => c.request)).to.deep.equal(reqs);
    });

    it('without EVENT_IDX, VRING_AVAIL_F_NO_INTERRUPT suppresses interrupts until cleared', async () => {
      const d = rig.driver;
      d.init({ features: withoutFeatures(VirtioFeature.RING_EVENT_IDX) });
      expect(d.eventIdx).to.equal(false);
      const before = d.interrupts;
      d.queue.setNoInterrupt(true);
      await d.write(0, pattern(512));
      await turns(5);
      expect(d.interrupts).to.equal(before);
      d.queue.setNoInterrupt(false);
      await d.write(1, pattern(512));
      await until(() => d.interrupts === before + 1);
    });

    it('kick suppression: the device asks for the next kick after each pass (avail_event)', async () => {
      const d = rig.driver;
      await d.write(0, pattern(512));
      const r = d.submitRead(0, 512);
      expect(d.kickIfNeeded()).to.equal(true);
      await d.wait(r);
      expect(d.queue.availEvent).to.equal(d.queue.availIdx);
    });
  });
}
