import { AioContext, VirtualClock } from '@vmkit/core';
import { BlockBackend, BlockGraph, builtinDrivers, drainedBegin, drainedEnd } from '@vmkit/block-layer';

// The block layer without a machine: a graph on a virtual clock, a node whose requests take 1 ms,
// and a BlockBackend with the callbacks a device would give it.
const clock = new VirtualClock();
const graph = new BlockGraph({ drivers: builtinDrivers(), mainContext: new AioContext({ clock }) });
const bs = await graph.openNode({
  driver: 'null-co',
  'node-name': 'null0',
  size: 1 << 20,
  'latency-ns': 1e6,
});
const blk = BlockBackend.withNode(bs);
const log = (line: string): void => console.log(`${clock.now() / 1e6} ms: ${line}`);
blk.setDevOps({
  drainedBegin: () => log('device: stop taking requests from the guest'),
  drainedEnd: () => log('device: resume'),
});

const write = blk.write(0, new Uint8Array(4096));
const drained = drainedBegin(bs); // counters and callbacks now; the promise is the wait
log(`draining, ${blk.inFlight} request in flight`);
await clock.advance(1e6); // the write completes, so the drain is over
await drained;
await write;
log(`drained: quiesce counter ${bs.quiesceCounter}, ${blk.inFlight} in flight`);
await drainedBegin(bs); // nested: the device hears nothing more
log(`nested: quiesce counter ${bs.quiesceCounter}`);

let done = false;
const read = blk.read(0, 4096).then(() => (done = true));
await clock.advance(5e6);
log(`read submitted during the drain: parked, done = ${done}`);
drainedEnd(bs); // inner end: still drained
drainedEnd(bs); // outer end: the device resumes and the parked read goes
await new Promise((resolve) => setImmediate(resolve)); // let it reach the driver and arm its timer
await clock.advance(1e6);
await read;
log(`read done = ${done}`);
blk.setDevOps(null);
await blk.unref();
/* Output:
0 ms: device: stop taking requests from the guest
0 ms: draining, 1 request in flight
1 ms: drained: quiesce counter 1, 0 in flight
1 ms: nested: quiesce counter 2
6 ms: read submitted during the drain: parked, done = false
6 ms: device: resume
7 ms: read done = true
*/
