/**
 * Internal glue between bottom-half queues and VirtualClock: the real setImmediate (captured at
 * load, so fake timers installed by a test cannot freeze BH dispatch) and a process-wide count of
 * BH batches waiting for their macrotask, which lets VirtualClock.advance() settle between firings.
 */

const realSetImmediate: typeof setImmediate = globalThis.setImmediate;

let batchesWaiting = 0;

/** Queues `run` for the next macrotask turn and counts it as a waiting BH batch. */
export function requestBatch(run: () => void): void {
  batchesWaiting++;
  realSetImmediate(run);
}

/** Called by the batch callback when its macrotask starts. */
export function batchStarted(): void {
  batchesWaiting--;
}

/** Number of BH batches (over all contexts) whose macrotask has not started yet. */
export function bhBatchesWaiting(): number {
  return batchesWaiting;
}

function turnExecutor(resolve: () => void): void {
  realSetImmediate(resolve);
}

/** Resolves after one macrotask turn (microtasks queued before it run first). */
export function macrotaskTurn(): Promise<void> {
  return new Promise<void>(turnExecutor);
}
