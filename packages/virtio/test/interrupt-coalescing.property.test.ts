// Interrupt coalescing against a guest that only looks at the used ring when interrupted (as
// Linux's virtio_blk does with EVENT_IDX): under any mix of submissions, completions in any
// batch sizes and clock advances, every completion reaches the guest through an interrupt no
// later than `usecs` after it was published, and nothing is ever left unseen.
import { expect } from 'chai';
import fc from 'fast-check';
import { VirtualClock } from '@vmkit/core';
import { VirtQueueElement, featureBit, type VirtQueue } from '../src/index.js';
import { EchoDevice, VIRTIO_ECHO_F_INVERT } from '../src/testing/index.js';
import { makeRig, pattern } from './helpers/rig.js';

const INVERT = featureBit(VIRTIO_ECHO_F_INVERT);
const RUNS = Number(process.env['VMKIT_FUZZ_RUNS'] ?? 300);

class DeferredDevice extends EchoDevice {
  readonly popped: VirtQueueElement[] = [];
  protected override handleOutput(queue: VirtQueue): void {
    let elem;
    while ((elem = queue.pop()) !== null) this.popped.push(elem);
  }
}

type Op =
  | { readonly kind: 'submit'; readonly n: number }
  | { readonly kind: 'complete'; readonly n: number; readonly irqfd: boolean }
  | { readonly kind: 'advance'; readonly us: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ kind: fc.constant('submit' as const), n: fc.integer({ min: 1, max: 12 }) }),
  fc.record({
    kind: fc.constant('complete' as const),
    n: fc.integer({ min: 1, max: 12 }),
    irqfd: fc.boolean(),
  }),
  fc.record({ kind: fc.constant('advance' as const), us: fc.integer({ min: 0, max: 400 }) }),
);

async function runCase(
  ops: readonly Op[],
  maxFrames: number,
  usecs: number,
  startIndex: number,
): Promise<void> {
  const device = new DeferredDevice({ queueSize: 64 });
  const rig = makeRig({ device });
  expect(rig.driver.negotiate(~INVERT).ok).to.equal(true);
  const q = rig.driver.setupQueue(0, { startIndex });
  device.queue(0).restoreIndices(startIndex);
  rig.driver.driverOk();
  device.setGuestNotifiers(false);
  const clock = rig.ctx.clock as VirtualClock;
  device.setInterruptCoalescing({ maxFrames, usecs }, clock);
  const vq = device.queue(0);

  // Publication times of completions the guest has not been interrupted for, oldest first.
  const unseen: number[] = [];
  let interrupted = 0;
  let reaped = 0;
  let submitted = 0;
  rig.transport.setInterruptHandler((level) => {
    rig.driver.irq(level);
    if (!level) return;
    const now = clock.now();
    for (const t of unseen) {
      expect(now - t, 'an interrupt came later than usecs after a completion').to.be.at.most(usecs * 1000);
    }
    unseen.length = 0;
    interrupted++;
  });
  /** The guest's interrupt handler: reaps and re-arms used_event (virtqueue_enable_cb). */
  const guestTurn = (): void => {
    if (interrupted === 0) return;
    interrupted = 0;
    reaped += q.reap().length;
  };
  const publish = (n: number, irqfd: boolean): void => {
    const batch = device.popped.splice(0, n);
    if (batch.length === 0) return;
    for (const e of batch) vq.fillNext(e, 0);
    vq.publish();
    for (let i = 0; i < batch.length; i++) unseen.push(clock.now());
    if (irqfd) {
      vq.notifyIrqfd();
      rig.run();
    } else {
      vq.notify();
    }
  };

  for (const op of ops) {
    if (op.kind === 'submit') {
      // Two descriptors per request in a 64-entry table.
      const n = Math.min(op.n, 32 - (submitted - reaped));
      if (n <= 0) continue;
      for (let i = 0; i < n; i++) q.submit({ out: pattern(2), inLength: 2 });
      submitted += n;
      q.kick();
      rig.run();
    } else if (op.kind === 'complete') {
      publish(op.n, op.irqfd);
    } else {
      await clock.advance(op.us * 1000);
    }
    guestTurn();
  }
  // Everything completes; the guest, woken only by interrupts, must end up with all of it.
  publish(device.popped.length, false);
  guestTurn();
  for (let i = 0; i < 4 && reaped < submitted; i++) {
    await clock.advance(usecs * 1000);
    guestTurn();
  }
  expect(reaped, 'completions the guest was never interrupted for').to.equal(submitted);
  expect(vq.interruptCoalescing?.isHolding).to.equal(false);
}

describe('interrupt coalescing (property)', function () {
  this.timeout(120_000);

  it(`every completion reaches an interrupt-driven guest within usecs (${RUNS} cases)`, async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(opArb, { maxLength: 60 }),
        fc.integer({ min: 2, max: 32 }),
        fc.integer({ min: 1, max: 300 }),
        fc.oneof(fc.constant(0), fc.constant(65530), fc.integer({ min: 0, max: 65535 })),
        (ops, maxFrames, usecs, start) => runCase(ops, maxFrames, usecs, start),
      ),
      { numRuns: RUNS },
    );
  });
});
