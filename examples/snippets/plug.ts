import { AioContext, IOVector } from '@vmkit/core';
import { BlockBackend, BlockGraph, type BlockDriver } from '@vmkit/block-layer';

interface BatchedState {
  readonly data: Uint8Array;
  readonly queued: (() => void)[];
  /** Size of every submission to the "host": 1 unplugged, n for a batch. */
  readonly submissions: number[];
}

/** `batched`: a RAM disk that queues reads while plugged and submits them at once on unplug. */
const batchedDriver: BlockDriver<BatchedState, { size: number }> = {
  name: 'batched',
  kind: 'protocol',
  parseOptions: (options) => ({ size: Number(options.size) }),
  open(bs, options) {
    bs.opaque = { data: new Uint8Array(options.size).fill(7), queued: [], submissions: [] };
  },
  getLength: (bs) => bs.opaque.data.length,
  preadv(bs, offset, bytes, qiov, qiovOffset) {
    const s = bs.opaque;
    const run = (): number => (qiov.copyFrom(s.data.subarray(offset, offset + bytes), qiovOffset), 0);
    if (bs.ioPlugged === 0) {
      s.submissions.push(1);
      return run();
    }
    return new Promise<number>((resolve) => s.queued.push(() => resolve(run())));
  },
  // Called on the node's plug counter 0→1 and 1→0 only.
  ioPlug: () => {},
  ioUnplug(bs) {
    const s = bs.opaque;
    s.submissions.push(s.queued.length);
    for (const submit of s.queued.splice(0)) submit();
  },
};

const graph = new BlockGraph({ drivers: [batchedDriver] });
const bs = await graph.openNode({ driver: 'batched', 'node-name': 'b0', size: 65536 });
const state = bs.opaque as BatchedState;
const blk = BlockBackend.withNode(bs);
const read = (offset: number): Promise<number> =>
  blk.coPreadv(offset, 512, IOVector.fromBuffer(new Uint8Array(512)));

blk.ioPlug();
blk.ioPlug(); // nested: only the outermost pair reaches the driver
const reads = [0, 512, 1024, 4096].map(read);
blk.ioUnplug();
console.log(`after the inner unplug: ${state.queued.length} reads queued`); // 4
blk.ioUnplug(); // 1→0: the driver submits the batch
console.log(`results: ${(await Promise.all(reads)).join(' ')}`); // 0 0 0 0
await read(8192);
console.log(`submissions: ${state.submissions.join(', ')}`); // 4, 1

// Device code batches its own work with deferred calls on its AioContext (defer_call).
const ctx = new AioContext();
const notify = (queue: number): void => console.log(`notify queue ${queue}`);
ctx.deferCallBegin();
for (const q of [0, 1, 0, 0]) ctx.deferCall(notify, q); // de-duplicated by (fn, arg)
ctx.deferCallEnd(); // notify queue 0, notify queue 1
await blk.unref();
