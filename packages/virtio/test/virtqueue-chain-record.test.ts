/**
 * The pop fast path (DescriptorChainWalker + ChainRecord): a chain whose descriptors are word for
 * word those of the last walk from its head gets the recorded views, and an element popped again
 * with the same chain is left as it was (`reused`). These tests prove that any change of any
 * descriptor word is seen, that a hostile guest flipping descriptors after a recorded walk is still
 * caught, and that the deferred used-ring publication (fillNext/publish) keeps the ring order.
 */
import { expect } from 'chai';
import {
  VIRTIO_COMMON_FEATURES,
  VirtQueueElement,
  VirtioDevice,
  VirtioMmioRegister as R,
  VirtioFeature,
  VirtioStatus,
  VringDescFlag,
  featureBit,
  type VirtQueue,
  type VirtQueueErrorKind,
} from '../src/index.js';
import type { GuestVirtqueue } from '../src/testing/index.js';
import { CaptureDevice } from './helpers/capture-device.js';
import { RAM_BASE, RAM_SIZE, makeRig } from './helpers/rig.js';

const { NEXT, WRITE } = VringDescFlag;

interface Seen {
  readonly head: number;
  readonly reused: boolean;
  readonly out: Uint8Array[];
  readonly in: Uint8Array[];
}

/** Pops every chain into one of its elements (chosen by `pick`) and records what each pop gave. */
class RecordingDevice extends VirtioDevice {
  readonly elems = [new VirtQueueElement(), new VirtQueueElement()];
  readonly seen: Seen[] = [];
  pick = 0;

  constructor() {
    super({ deviceId: 0xfffb, name: 'recording', features: VIRTIO_COMMON_FEATURES, configSize: 0 });
    this.addQueue(16);
  }

  protected override handleOutput(queue: VirtQueue): void {
    let e: VirtQueueElement | null;
    while ((e = queue.pop(this.elems[this.pick])) !== null) {
      this.seen.push({ head: e.head, reused: e.reused, out: [...e.outSg.views], in: [...e.inSg.views] });
      queue.push(e, 0);
    }
  }
}

function recordingRig(layout?: { desc: number; avail: number; used: number }) {
  const rig = makeRig({ device: new RecordingDevice() });
  rig.driver.negotiate();
  const q = rig.driver.setupQueue(0, layout !== undefined ? { layout } : {});
  rig.driver.driverOk();
  /** Offers `head` again and returns what the device saw. */
  const offer = (head: number): Seen => {
    q.addHead(head);
    q.publish();
    q.kick();
    rig.run();
    q.reap();
    return rig.device.seen[rig.device.seen.length - 1];
  };
  return { ...rig, q, offer };
}

/** header (16, readable), data (64, writable), status (1, writable) in descriptors 0, 1, 2. */
function threeDescriptorChain(q: GuestVirtqueue, a: number, b: number, c: number): number {
  q.writeDescriptor(0, { addr: a, len: 16, flags: NEXT, next: 1 });
  q.writeDescriptor(1, { addr: b, len: 64, flags: NEXT | WRITE, next: 2 });
  q.writeDescriptor(2, { addr: c, len: 1, flags: WRITE, next: 0 });
  return 0;
}

describe('split virtqueue: recorded chains on the pop path', () => {
  it('the same chain popped again into the same element keeps the element as is (reused, same views)', () => {
    const { q, allocator, offer } = recordingRig();
    const head = threeDescriptorChain(
      q,
      allocator.alloc(16, 16),
      allocator.alloc(64, 16),
      allocator.alloc(1, 1),
    );
    const first = offer(head);
    expect(first.reused).to.equal(false);
    const second = offer(head);
    expect(second.reused).to.equal(true);
    expect(second.out[0]).to.equal(first.out[0]);
    expect(second.in).to.deep.equal(first.in);
    expect(second.in[0]).to.equal(first.in[0]);
    expect([second.out.length, second.in.length]).to.deep.equal([1, 2]);
  });

  it('the recorded chain popped into another element gives the same views, not reused', () => {
    const { q, allocator, offer, device } = recordingRig();
    const head = threeDescriptorChain(
      q,
      allocator.alloc(16, 16),
      allocator.alloc(64, 16),
      allocator.alloc(1, 1),
    );
    const first = offer(head);
    device.pick = 1;
    const other = offer(head);
    expect(other.reused).to.equal(false);
    expect(other.out[0]).to.equal(first.out[0]);
    expect(other.in[1]).to.equal(first.in[1]);
    // Back to the first element: it held that chain last, unchanged.
    device.pick = 0;
    expect(offer(head).reused).to.equal(true);
  });

  /** Buffers of the chain: header, data, status, and a spare data buffer. */
  interface Bufs {
    readonly hdr: number;
    readonly data: number;
    readonly status: number;
    readonly spare: number;
  }
  const rewrites: { name: string; apply(q: GuestVirtqueue, b: Bufs): void; check(s: Seen, b: Bufs): void }[] =
    [
      {
        name: 'address',
        apply: (q, b) => q.writeDescriptor(1, { addr: b.spare, len: 64, flags: NEXT | WRITE, next: 2 }),
        check: (s, b) => expect(s.in[0].byteOffset - s.out[0].byteOffset).to.equal(b.spare - b.hdr),
      },
      {
        name: 'length',
        apply: (q, b) => q.writeDescriptor(1, { addr: b.data, len: 32, flags: NEXT | WRITE, next: 2 }),
        check: (s) => expect(s.in[0].length).to.equal(32),
      },
      {
        name: 'flags (the data buffer becomes device-readable)',
        apply: (q, b) => q.writeDescriptor(1, { addr: b.data, len: 64, flags: NEXT, next: 2 }),
        check: (s) => expect([s.out.length, s.in.length]).to.deep.equal([2, 1]),
      },
      {
        name: 'next (the chain skips the data buffer)',
        apply: (q, b) => q.writeDescriptor(0, { addr: b.hdr, len: 16, flags: NEXT, next: 2 }),
        check: (s) => expect([s.out.length, s.in.length, s.in[0].length]).to.deep.equal([1, 1, 1]),
      },
    ];

  for (const aligned of [true, false]) {
    // At the top of guest memory, away from the allocator; an unaligned table is compared
    // through a DataView rather than host-order words.
    const top = RAM_BASE + RAM_SIZE - 0x3000;
    const layout = { desc: top + (aligned ? 0 : 2), avail: top + 0x1000, used: top + 0x2000 };
    const table = aligned ? 'aligned' : 'unaligned';
    for (const r of rewrites) {
      it(`a rewritten ${r.name} between two pops of the same head is seen (${table} table)`, () => {
        const { q, allocator, offer } = recordingRig(layout);
        const b: Bufs = {
          hdr: allocator.alloc(16, 16),
          data: allocator.alloc(64, 16),
          status: allocator.alloc(1, 1),
          spare: allocator.alloc(64, 16),
        };
        const head = threeDescriptorChain(q, b.hdr, b.data, b.status);
        offer(head);
        expect(offer(head).reused).to.equal(true);
        r.apply(q, b);
        const s = offer(head);
        expect(s.reused).to.equal(false);
        r.check(s, b);
        // Written back: the original chain is walked afresh (the record holds the rewritten one).
        threeDescriptorChain(q, b.hdr, b.data, b.status);
        const back = offer(head);
        expect(back.reused).to.equal(false);
        expect([back.out.length, back.in.length, back.in[0].length]).to.deep.equal([1, 2, 64]);
        expect(offer(head).reused).to.equal(true);
      });
    }
    it(`an address moved beyond guest memory (high half) is refused (${table} table)`, () => {
      const { q, allocator, offer, device, driver, run } = recordingRig(layout);
      const data = allocator.alloc(64, 16);
      const head = threeDescriptorChain(q, allocator.alloc(16, 16), data, allocator.alloc(1, 1));
      offer(head);
      expect(offer(head).reused).to.equal(true);
      q.writeDescriptor(1, { addr: BigInt(data) + (1n << 40n), len: 64, flags: NEXT | WRITE, next: 2 });
      q.addHead(head);
      q.publish();
      q.kick();
      run();
      expect(device.seen).to.have.length(2);
      expect(device.lastError?.kind).to.equal('buffer-unmapped');
      expect(driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
    });
  }

  const hostile: { kind: VirtQueueErrorKind; flip(q: GuestVirtqueue, a: number): void }[] = [
    {
      kind: 'chain-too-long',
      flip: (q, a) => q.writeDescriptor(2, { addr: a, len: 1, flags: NEXT | WRITE, next: 1 }),
    },
    {
      kind: 'zero-length',
      flip: (q, a) => q.writeDescriptor(1, { addr: a, len: 0, flags: NEXT | WRITE, next: 2 }),
    },
    {
      kind: 'next-out-of-range',
      flip: (q, a) => q.writeDescriptor(1, { addr: a, len: 64, flags: NEXT | WRITE, next: 99 }),
    },
    {
      kind: 'readable-after-writable',
      flip: (q, a) => q.writeDescriptor(2, { addr: a, len: 1, flags: 0, next: 0 }),
    },
    {
      kind: 'indirect-not-negotiated',
      flip: (q, a) => q.writeDescriptor(0, { addr: a, len: 16, flags: VringDescFlag.INDIRECT, next: 0 }),
    },
  ];
  for (const h of hostile) {
    it(`a hostile guest flipping a recorded chain (${h.kind}) is still caught: NEEDS_RESET, nothing published`, () => {
      const rig = makeRig({ device: new RecordingDevice() });
      rig.driver.negotiate(~featureBit(VirtioFeature.RING_INDIRECT_DESC));
      const q = rig.driver.setupQueue(0);
      rig.driver.driverOk();
      const a = rig.allocator.alloc(64, 16);
      const head = threeDescriptorChain(q, a, rig.allocator.alloc(64, 16), rig.allocator.alloc(1, 1));
      for (let i = 0; i < 3; i++) {
        q.addHead(head);
        q.publish();
        q.kick();
        rig.run();
        q.reap();
      }
      expect(rig.device.seen.map((s) => s.reused)).to.deep.equal([false, true, true]);
      h.flip(q, a);
      q.addHead(head);
      q.publish();
      q.kick();
      rig.run();
      expect(rig.device.seen).to.have.length(3);
      expect(rig.device.lastError?.kind).to.equal(h.kind);
      expect(q.deviceUsedIdx).to.equal(3);
      expect(rig.driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
    });
  }

  it('a memory layout change drops the records: a buffer in a replaced region maps the new region', () => {
    const { q, offer, memory } = recordingRig();
    const gpa = 0x800000;
    const old = memory.addRegion(gpa, new ArrayBuffer(4096), 'extra');
    q.writeDescriptor(5, { addr: gpa, len: 8, flags: WRITE, next: 0 });
    expect(offer(5).in[0].buffer).to.equal(old.bytes.buffer);
    expect(offer(5).reused).to.equal(true);
    memory.removeRegion(old);
    const replacement = memory.addRegion(gpa, new ArrayBuffer(4096), 'extra2');
    const s = offer(5);
    expect(s.reused).to.equal(false);
    expect(s.in[0].buffer).to.equal(replacement.bytes.buffer);
  });
});

describe('split virtqueue: deferred used-ring publication (fillNext / publish)', () => {
  function poppedRig(n: number) {
    const rig = makeRig({ device: new CaptureDevice() });
    rig.driver.negotiate();
    const q = rig.driver.setupQueue(0);
    rig.driver.driverOk();
    for (let i = 0; i < n; i++) q.submit({ out: new Uint8Array(4), inLength: 4 });
    q.kick();
    rig.run();
    const vq = rig.device.queue(0);
    const usedId = (i: number): number => rig.memory.readU32(q.layout.used + 4 + 8 * i);
    return { ...rig, q, vq, usedId, elems: rig.device.elements };
  }

  it('fillNext writes the elements in order without used.idx; publish makes them visible at once', () => {
    const { q, vq, usedId, elems } = poppedRig(3);
    expect(vq.fillNext(elems[0], 4)).to.equal(true);
    expect(vq.fillNext(elems[1], 4)).to.equal(true);
    expect(q.deviceUsedIdx).to.equal(0);
    expect(vq.unpublishedCount).to.equal(2);
    expect([usedId(0), usedId(1)]).to.deep.equal([elems[0].head, elems[1].head]);
    vq.publish();
    expect(q.deviceUsedIdx).to.equal(2);
    expect(vq.usedIdx).to.equal(2);
    expect(vq.inUse).to.equal(1);
    vq.publish();
    expect(q.deviceUsedIdx).to.equal(2);
  });

  it('push after fillNext publishes both, the filled element first', () => {
    const { q, vq, usedId, elems } = poppedRig(2);
    vq.fillNext(elems[1], 4);
    vq.push(elems[0], 4);
    expect(q.deviceUsedIdx).to.equal(2);
    expect([usedId(0), usedId(1)]).to.deep.equal([elems[1].head, elems[0].head]);
    expect(vq.unpublishedCount).to.equal(0);
  });

  it('QueueReady = 0 publishes what was filled before the rings go; a reset drops it', () => {
    const { q, vq, elems, driver } = poppedRig(2);
    vq.fillNext(elems[0], 4);
    driver.write(R.QUEUE_SEL, 0);
    driver.write(R.QUEUE_READY, 0);
    expect(q.deviceUsedIdx).to.equal(1);
    const again = poppedRig(1);
    again.vq.fillNext(again.elems[0], 4);
    again.driver.reset();
    expect(again.vq.unpublishedCount).to.equal(0);
    expect(again.q.deviceUsedIdx).to.equal(0);
  });
});
