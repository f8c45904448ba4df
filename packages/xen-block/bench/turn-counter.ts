/**
 * Counts macrotask turns: every setImmediate callback that runs (the bottom-half queues of every
 * AioContext request one per batch, each costing a pass of Node's event loop). Import it before
 * anything from @vmkit/core, which captures setImmediate when it loads.
 */

let turns = 0;

const realSetImmediate = globalThis.setImmediate;

function countingSetImmediate<A extends unknown[]>(
  callback: (...args: A) => void,
  ...args: A
): NodeJS.Immediate {
  return realSetImmediate(() => {
    turns++;
    callback(...args);
  });
}

globalThis.setImmediate = Object.assign(countingSetImmediate, {
  __promisify__: realSetImmediate.__promisify__,
});

/** setImmediate callbacks run so far in this process. */
export function macrotaskTurns(): number {
  return turns;
}
