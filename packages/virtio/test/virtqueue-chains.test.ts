import { expect } from 'chai';
import { AioContext, GuestMemory, VirtualClock } from '@vmkit/core';
import { VirtQueueElement, VirtioFeature, VirtioMmioTransport, featureBit } from '../src/index.js';
import {
  GuestAllocator,
  VIRTIO_ECHO_F_INVERT,
  VirtioMmioDriver,
  runBottomHalves,
} from '../src/testing/index.js';
import { CaptureDevice } from './helpers/capture-device.js';
import { makeRig, pattern } from './helpers/rig.js';

const NO_INVERT = ~featureBit(VIRTIO_ECHO_F_INVERT);
const EVENT_IDX = featureBit(VirtioFeature.RING_EVENT_IDX);

function echoRig(queueSize = 16, want: bigint = NO_INVERT) {
  const rig = makeRig({ queueSize });
  expect(rig.driver.negotiate(want).ok).to.equal(true);
  const q = rig.driver.setupQueue(0);
  rig.driver.driverOk();
  return { ...rig, q };
}

describe('split virtqueue: descriptor chains', () => {
  it('echoes through chains split at odd boundaries, readable and writable streams split differently', () => {
    const { q, run } = echoRig(64);
    const data = pattern(61, 3);
    const req = q.submit({
      out: data,
      outSplit: [1, 2, 3, 5, 7, 11, 13, 19],
      inLength: 61,
      inSplit: [13, 1, 46, 1],
    });
    q.kick();
    run();
    const [used] = q.reap();
    expect(used.id).to.equal(req.head);
    expect(used.len).to.equal(61);
    expect(q.readIn(req)).to.deep.equal(data);
  });

  it('pop() gives outSg/inSg as zero-copy views over guest memory with counts and lengths', () => {
    const rig = makeRig({ device: new CaptureDevice() });
    rig.driver.negotiate();
    const q = rig.driver.setupQueue(0);
    rig.driver.driverOk();
    const req = q.submit({ out: pattern(10), outSplit: [4, 6], inLength: 9, inSplit: [2, 3, 4] });
    q.kick();
    rig.run();
    const [elem] = rig.device.elements;
    expect(elem.head).to.equal(req.head);
    expect([elem.outNum, elem.inNum, elem.outLen, elem.inLen]).to.deep.equal([2, 3, 10, 9]);
    expect(elem.outSg.niov).to.equal(2);
    const ram = rig.memory.regions[0];
    expect(elem.inSg.views[0].buffer).to.equal(ram.bytes.buffer);
    // Writing through the view is visible to the guest: no copy in between.
    elem.inSg.views[1][0] = 0xab;
    expect(rig.memory.readU8(req.inBuffers[1].addr)).to.equal(0xab);
  });

  it('readOut/writeIn work at every offset and length across descriptor boundaries', () => {
    const rig = makeRig({ device: new CaptureDevice() });
    rig.driver.negotiate();
    const q = rig.driver.setupQueue(0);
    rig.driver.driverOk();
    const data = pattern(14, 9);
    const req = q.submit({ out: data, outSplit: [3, 1, 4, 1, 5], inLength: 14, inSplit: [2, 7, 1, 4] });
    q.kick();
    rig.run();
    const elem = rig.device.elements[0];
    for (let off = 0; off <= 15; off++) {
      for (let len = 0; len <= 15; len++) {
        const dest = new Uint8Array(len).fill(0xee);
        const n = elem.readOut(off, dest);
        const expected = data.subarray(Math.min(off, 14), Math.min(off + len, 14));
        expect(n, `readOut(${off}, ${len})`).to.equal(expected.length);
        expect(dest.subarray(0, n)).to.deep.equal(expected);
        expect(dest.subarray(n).every((b) => b === 0xee)).to.equal(true);

        const before = q.readIn(req);
        const src = pattern(len, off + 50);
        const w = elem.writeIn(off, src);
        expect(w, `writeIn(${off}, ${len})`).to.equal(Math.max(0, Math.min(len, 14 - off)));
        const after = q.readIn(req);
        const want = before.slice();
        want.set(src.subarray(0, w), Math.min(off, 14));
        expect(after).to.deep.equal(want);
      }
    }
  });

  it('an indirect table carries the whole chain when INDIRECT_DESC is negotiated', () => {
    const { q, run, device } = echoRig(8);
    expect(device.hasFeature(VirtioFeature.RING_INDIRECT_DESC)).to.equal(true);
    const data = pattern(33, 4);
    const req = q.submit({
      out: data,
      outSplit: [1, 1, 1, 30],
      inLength: 33,
      inSplit: [32, 1],
      indirect: true,
    });
    expect(q.freeDescriptors).to.equal(7);
    q.kick();
    run();
    const [used] = q.reap();
    expect(used.id).to.equal(req.head);
    expect(q.readIn(req)).to.deep.equal(data);
    expect(q.freeDescriptors).to.equal(8);
  });

  it('an indirect table may hold more descriptors than the queue size', () => {
    const { q, run } = echoRig(2);
    const split = Array.from({ length: 20 }, () => 1);
    const data = pattern(20);
    const req = q.submit({ out: data, outSplit: split, inLength: 20, inSplit: split, indirect: true });
    q.kick();
    run();
    expect(q.reap()).to.have.length(1);
    expect(q.readIn(req)).to.deep.equal(data);
  });

  it('inverts when the device feature is negotiated (device-specific bits reach the device)', () => {
    const { q, run } = echoRig(8, ~0n);
    const req = q.submit({ out: Uint8Array.of(0x00, 0x0f, 0xff), inLength: 3 });
    q.kick();
    run();
    q.reap();
    expect(q.readIn(req)).to.deep.equal(Uint8Array.of(0xff, 0xf0, 0x00));
  });

  it('a buffer spanning two adjacent memory regions maps to one view per region', () => {
    const memory = new GuestMemory();
    memory.addRegion(0x10000, new ArrayBuffer(0x10000), 'lo');
    memory.addRegion(0x20000, new ArrayBuffer(0x10000), 'hi');
    const ctx = new AioContext({ clock: new VirtualClock() });
    const device = new CaptureDevice();
    const transport = new VirtioMmioTransport(device, { memory, context: ctx });
    const driver = new VirtioMmioDriver(transport, memory, {
      allocator: new GuestAllocator(0x10000, 0x8000),
    });
    driver.negotiate();
    const q = driver.setupQueue(0);
    driver.driverOk();
    memory.write(0x1fff0, pattern(32));
    q.addChain([{ addr: 0x1fff0, len: 32, write: false }]);
    q.publish();
    q.kick();
    runBottomHalves(ctx);
    const elem = device.elements[0];
    expect(device.broken).to.equal(false);
    expect(elem.outSg.niov).to.equal(2);
    const out = new Uint8Array(32);
    elem.readOut(0, out);
    expect(out).to.deep.equal(pattern(32));
  });

  it('pop(into) reuses the element object', () => {
    const rig = makeRig();
    rig.driver.negotiate();
    const q = rig.driver.setupQueue(0);
    rig.driver.driverOk();
    q.submit({ out: pattern(4), inLength: 4 });
    q.submit({ out: pattern(5), inLength: 5 });
    const vq = rig.device.queue(0);
    const elem = new VirtQueueElement();
    expect(vq.pop(elem)).to.equal(elem);
    expect(elem.outLen).to.equal(4);
    vq.push(elem, 4);
    expect(vq.pop(elem)).to.equal(elem);
    expect([elem.outLen, elem.outSg.niov]).to.deep.equal([5, 1]);
    vq.push(elem, 5);
    expect(vq.pop(elem)).to.equal(null);
    expect(q.reap().map((u) => u.len)).to.deep.equal([4, 5]);
  });

  for (const eventIdx of [false, true]) {
    it(`wraps the 16-bit indexes from 65530${eventIdx ? ' with EVENT_IDX' : ''}`, () => {
      const rig = makeRig({ queueSize: 4 });
      const want = NO_INVERT & (eventIdx ? ~0n : ~EVENT_IDX);
      rig.driver.negotiate(want);
      const q = rig.driver.setupQueue(0, { startIndex: 65530 });
      rig.device.queue(0).restoreIndices(65530);
      rig.driver.driverOk();
      let n = 0;
      for (let round = 0; round < 6; round++) {
        const reqs = [0, 1].map(() => q.submit({ out: pattern(7, n++), inLength: 7 }));
        q.kick();
        rig.run();
        const used = q.reap();
        expect(used.map((u) => u.id)).to.deep.equal(reqs.map((r) => r.head));
        reqs.forEach((r, i) => expect(q.readIn(r)).to.deep.equal(pattern(7, n - 2 + i)));
      }
      expect(rig.device.queue(0).usedIdx).to.equal((65530 + 12) & 0xffff);
      expect(q.deviceUsedIdx).to.equal(6);
      expect(rig.device.broken).to.equal(false);
      expect(rig.driver.vringInterrupts).to.equal(6);
    });
  }

  it('a queue size that is not a power of two works across the wrap', () => {
    const rig = makeRig({ queueSize: 5 });
    rig.driver.negotiate(NO_INVERT);
    const q = rig.driver.setupQueue(0, { size: 5, startIndex: 65533 });
    rig.device.queue(0).restoreIndices(65533);
    rig.driver.driverOk();
    for (let i = 0; i < 12; i++) {
      const req = q.submit({ out: pattern(3, i), inLength: 3 });
      q.kick();
      rig.run();
      expect(q.reap().map((u) => u.id)).to.deep.equal([req.head]);
      expect(q.readIn(req)).to.deep.equal(pattern(3, i));
    }
    expect(rig.device.broken).to.equal(false);
  });

  it('wraps for real: 65536 + 256 requests through a 256-entry queue without restoring indexes', function () {
    this.timeout(60000);
    const rig = makeRig({ queueSize: 256 });
    rig.driver.negotiate(NO_INVERT);
    const q = rig.driver.setupQueue(0);
    rig.driver.driverOk();
    const buf = rig.allocator.alloc(512, 16);
    // 128 two-descriptor chains, built once; each round re-offers the same heads.
    const heads: number[] = [];
    for (let i = 0; i < 128; i++) {
      heads.push(
        q.addChain([
          { addr: buf + 2 * i, len: 1, write: false },
          { addr: buf + 256 + 2 * i, len: 1, write: true },
        ]),
      );
    }
    q.availIdx = 0;
    const total = 65536 + 256;
    for (let done = 0; done < total; done += 128) {
      for (let i = 0; i < 128; i++) {
        rig.memory.writeU8(buf + 2 * i, (done + i) & 0xff);
        q.addHead(heads[i]);
      }
      q.publish();
      q.kick();
      rig.run();
      const used = q.reap();
      expect(used.length).to.equal(128);
      expect(rig.memory.readU8(buf + 256 + 2 * 127)).to.equal((done + 127) & 0xff);
    }
    expect(rig.device.processed).to.equal(total);
    expect(rig.device.queue(0).usedIdx).to.equal(256);
    expect(rig.device.broken).to.equal(false);
  });
});
