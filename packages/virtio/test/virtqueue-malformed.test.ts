import { expect } from 'chai';
import {
  VirtioFeature,
  VirtioStatus,
  VringDescFlag,
  featureBit,
  usedRingSize,
  type VirtQueueErrorKind,
} from '../src/index.js';
import { VIRTIO_ECHO_F_INVERT, type GuestVirtqueue } from '../src/testing/index.js';
import { RAM_BASE, RAM_SIZE, changedAddresses, makeRig, pattern, snapshot } from './helpers/rig.js';

const { NEXT, WRITE, INDIRECT } = VringDescFlag;
const SIZE = 8;

interface Setup {
  readonly want?: bigint;
  /** Writes hostile descriptors/avail entries; may use `buf` (a 256-byte scratch area). */
  build(q: GuestVirtqueue, buf: number, table: number): void;
}

function runMalformed(kind: VirtQueueErrorKind, setup: Setup) {
  const rig = makeRig({ queueSize: SIZE });
  const { driver, device, memory } = rig;
  expect(driver.negotiate(setup.want ?? ~featureBit(VIRTIO_ECHO_F_INVERT)).ok).to.equal(true);
  const q = driver.setupQueue(0);
  driver.driverOk();
  const buf = rig.allocator.alloc(256, 16);
  const table = rig.allocator.alloc(256, 16);
  memory.write(buf, pattern(256));
  setup.build(q, buf, table);
  const before = snapshot(memory);
  q.kick();
  expect(() => rig.run()).to.not.throw();
  const changed = changedAddresses(memory, before);
  const usedStart = q.layout.used;
  const usedEnd = usedStart + usedRingSize(SIZE);
  const outside = changed.filter((a) => a < usedStart || a >= usedEnd);
  expect(outside, 'bytes written outside the used ring').to.deep.equal([]);
  expect(device.broken).to.equal(true);
  expect(device.lastError?.kind).to.equal(kind);
  expect(driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
  expect(driver.configInterrupts).to.equal(1);
  return { ...rig, q, buf };
}

function desc(
  q: GuestVirtqueue,
  i: number,
  addr: number | bigint,
  len: number,
  flags: number,
  next = 0,
  table?: number,
) {
  q.writeDescriptor(i, { addr, len, flags, next }, table);
}

function offer(q: GuestVirtqueue, head: number) {
  q.addHead(head);
  q.publish();
}

describe('split virtqueue: malformed rings and chains set NEEDS_RESET and write nothing', () => {
  it('head index >= queue size', () => {
    runMalformed('head-out-of-range', { build: (q) => offer(q, SIZE) });
  });

  it('next index >= queue size', () => {
    runMalformed('next-out-of-range', {
      build: (q, buf) => {
        desc(q, 0, buf, 4, NEXT, SIZE);
        offer(q, 0);
      },
    });
  });

  it('buffer address outside guest memory', () => {
    runMalformed('buffer-unmapped', {
      build: (q, buf) => {
        desc(q, 0, buf, 4, NEXT, 1);
        desc(q, 1, 0x1000, 4, WRITE);
        offer(q, 0);
      },
    });
  });

  it('buffer straddling the end of guest memory (its mapped part is not written)', () => {
    runMalformed('buffer-unmapped', {
      build: (q, buf) => {
        desc(q, 0, buf, 8, NEXT, 1);
        desc(q, 1, RAM_BASE + RAM_SIZE - 4, 8, WRITE);
        offer(q, 0);
      },
    });
  });

  it('buffer address above 2^53 and above 2^63', () => {
    runMalformed('buffer-unmapped', {
      build: (q) => {
        desc(q, 0, 1n << 60n, 4, 0);
        offer(q, 0);
      },
    });
    runMalformed('buffer-unmapped', {
      build: (q) => {
        desc(q, 0, (1n << 64n) - 2n, 4, 0);
        offer(q, 0);
      },
    });
  });

  it('a descriptor loop', () => {
    runMalformed('chain-too-long', {
      build: (q, buf) => {
        desc(q, 0, buf, 4, NEXT, 1);
        desc(q, 1, buf + 4, 4, NEXT, 0);
        offer(q, 0);
      },
    });
  });

  it('a loop inside an indirect table', () => {
    runMalformed('chain-too-long', {
      build: (q, buf, table) => {
        desc(q, 0, buf, 4, NEXT, 1, table);
        desc(q, 1, buf + 4, 4, NEXT | WRITE, 1, table);
        // entry 1 points at itself
        desc(q, 0, table, 32, INDIRECT);
        offer(q, 0);
      },
    });
  });

  it('a zero-length buffer', () => {
    runMalformed('zero-length', {
      build: (q, buf) => {
        desc(q, 0, buf, 4, NEXT, 1);
        desc(q, 1, buf + 8, 0, WRITE);
        offer(q, 0);
      },
    });
  });

  it('INDIRECT without VIRTIO_RING_F_INDIRECT_DESC negotiated', () => {
    runMalformed('indirect-not-negotiated', {
      want: ~(featureBit(VIRTIO_ECHO_F_INVERT) | featureBit(VirtioFeature.RING_INDIRECT_DESC)),
      build: (q, buf, table) => {
        desc(q, 0, buf, 4, 0, 0, table);
        desc(q, 0, table, 16, INDIRECT);
        offer(q, 0);
      },
    });
  });

  for (const len of [0, 8, 17, 40]) {
    it(`indirect table length ${len} (zero or not a multiple of 16)`, () => {
      runMalformed('bad-indirect-length', {
        build: (q, buf, table) => {
          desc(q, 0, buf, 4, 0, 0, table);
          desc(q, 0, table, len, INDIRECT);
          offer(q, 0);
        },
      });
    });
  }

  it('indirect table outside guest memory', () => {
    runMalformed('indirect-unmapped', {
      build: (q) => {
        desc(q, 0, RAM_BASE + RAM_SIZE - 16, 32, INDIRECT);
        offer(q, 0);
      },
    });
  });

  it('nested indirect descriptor', () => {
    runMalformed('nested-indirect', {
      build: (q, buf, table) => {
        desc(q, 0, buf, 4, NEXT, 1, table);
        desc(q, 1, table + 64, 16, INDIRECT, 0, table);
        desc(q, 0, buf + 16, 4, WRITE, 0, table + 64);
        desc(q, 0, table, 32, INDIRECT);
        offer(q, 0);
      },
    });
  });

  it('INDIRECT on a descriptor other than the head', () => {
    runMalformed('nested-indirect', {
      build: (q, buf, table) => {
        desc(q, 0, buf, 4, 0, 0, table);
        desc(q, 0, buf, 4, NEXT, 1);
        desc(q, 1, table, 16, INDIRECT);
        offer(q, 0);
      },
    });
  });

  it('INDIRECT together with NEXT', () => {
    runMalformed('indirect-with-next', {
      build: (q, buf, table) => {
        desc(q, 0, buf, 4, 0, 0, table);
        desc(q, 0, table, 16, INDIRECT | NEXT, 1);
        desc(q, 1, buf, 4, WRITE);
        offer(q, 0);
      },
    });
  });

  it('a device-writable buffer before a device-readable one', () => {
    runMalformed('readable-after-writable', {
      build: (q, buf) => {
        desc(q, 0, buf, 4, NEXT | WRITE, 1);
        desc(q, 1, buf + 4, 4, 0);
        offer(q, 0);
      },
    });
  });

  it('writable before readable inside an indirect table', () => {
    runMalformed('readable-after-writable', {
      build: (q, buf, table) => {
        desc(q, 0, buf, 4, NEXT | WRITE, 1, table);
        desc(q, 1, buf + 4, 4, 0, 0, table);
        desc(q, 0, table, 32, INDIRECT);
        offer(q, 0);
      },
    });
  });

  it('avail idx more than the queue size ahead', () => {
    runMalformed('avail-idx-jump', { build: (q) => q.setAvailIdx(SIZE + 1) });
  });

  it('avail idx moved backwards (seen as a jump of almost 65536)', () => {
    runMalformed('avail-idx-jump', { build: (q) => q.setAvailIdx(0xffff) });
  });

  it('rings outside guest memory at QueueReady', () => {
    const rig = makeRig({ queueSize: SIZE });
    rig.driver.negotiate();
    const before = snapshot(rig.memory);
    rig.driver.setupQueue(0, {
      layout: { desc: RAM_BASE, avail: RAM_BASE + 0x200, used: RAM_BASE + RAM_SIZE - 8 },
    });
    expect(rig.device.lastError?.kind).to.equal('ring-unmapped');
    expect(rig.device.broken).to.equal(true);
    expect(rig.driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
    // The driver zeroed its own rings; the device wrote nothing.
    const changed = changedAddresses(rig.memory, before).filter((a) => a >= RAM_BASE + 0x400);
    expect(changed.every((a) => a >= RAM_BASE + RAM_SIZE - 8)).to.equal(true);
  });

  it('the request before a malformed one completes; nothing after it is processed; reset recovers', () => {
    const rig = makeRig({ queueSize: SIZE });
    const { driver, device } = rig;
    driver.negotiate(~featureBit(VIRTIO_ECHO_F_INVERT));
    let q = driver.setupQueue(0);
    driver.driverOk();
    const good = q.submit({ out: pattern(8), inLength: 8 });
    q.addHead(SIZE + 3);
    const after = q.submit({ out: pattern(8, 2), inLength: 8 });
    q.kick();
    rig.run();
    expect(device.lastError?.kind).to.equal('head-out-of-range');
    const used = q.reap();
    expect(used.map((u) => u.id)).to.deep.equal([good.head]);
    expect(q.readIn(good)).to.deep.equal(pattern(8));
    expect(q.readIn(after)).to.deep.equal(new Uint8Array(8));
    // Kicks are ignored while broken.
    q.kick();
    rig.run();
    expect(device.processed).to.equal(1);
    // A reset (negotiate starts with Status = 0) clears NEEDS_RESET and the queue works again.
    driver.negotiate(~featureBit(VIRTIO_ECHO_F_INVERT));
    expect(driver.status & VirtioStatus.NEEDS_RESET).to.equal(0);
    expect(device.broken).to.equal(false);
    q = driver.setupQueue(0);
    driver.driverOk();
    const req = q.submit({ out: pattern(5, 7), inLength: 5 });
    q.kick();
    rig.run();
    expect(q.reap().map((u) => u.id)).to.deep.equal([req.head]);
    expect(q.readIn(req)).to.deep.equal(pattern(5, 7));
  });

  it('without DRIVER_OK the error sets NEEDS_RESET but raises no config interrupt', () => {
    const rig = makeRig({ queueSize: SIZE });
    rig.driver.negotiate();
    const q = rig.driver.setupQueue(0);
    offer(q, SIZE);
    q.kick();
    rig.run();
    expect(rig.driver.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
    expect(rig.driver.configInterrupts).to.equal(0);
  });
});
