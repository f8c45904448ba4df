import { Errno } from '@vmkit/core';
import { XenbusState, parseXenbusState, type XenStore, type XenbusStateValue } from '@vmkit/xen-bus';

let nextToken = 0;

/**
 * Resolves with the first defined value of `check()`, evaluated each time a watch on `path`
 * fires (including the initial firing on registration); rejects when `check` throws.
 */
export function waitForWatch<T>(store: XenStore, path: string, check: () => T | undefined): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const token = `vmkit-blkfront-wait-${nextToken++}`;
    let done = false;
    const rc = store.watch(path, token, () => {
      if (done) return;
      let value: T | undefined;
      try {
        value = check();
      } catch (e) {
        done = true;
        store.unwatch(path, token);
        reject(e instanceof Error ? e : new Error(String(e)));
        return;
      }
      if (value === undefined) return;
      done = true;
      store.unwatch(path, token);
      resolve(value);
    });
    if (rc < 0) reject(new Error(`xenstore watch on ${path} failed (${rc})`));
  });
}

/** A string key, or undefined when missing or unreadable. */
export function readKey(store: XenStore, path: string): string | undefined {
  const v = store.read(path);
  return typeof v === 'string' ? v : undefined;
}

/** A `state` key as a XenbusState (Unknown when missing or not a state number). */
export function readState(store: XenStore, path: string): XenbusStateValue {
  return parseXenbusState(readKey(store, path) ?? '') ?? XenbusState.Unknown;
}

/**
 * Writes several keys in one transaction (removing the `remove` keys first), retrying on
 * -EAGAIN; returns 0 or the first error.
 */
export function writeKeys(
  store: XenStore,
  base: string,
  keys: Readonly<Record<string, string>>,
  remove: readonly string[] = [],
): number {
  for (;;) {
    const tx = store.transactionStart();
    if (tx < 0) return tx;
    for (const k of remove) store.rm(`${base}/${k}`, tx);
    for (const [k, v] of Object.entries(keys)) {
      const rc = store.write(`${base}/${k}`, v, tx);
      if (rc < 0) {
        store.transactionEnd(tx, true);
        return rc;
      }
    }
    const rc = store.transactionEnd(tx);
    if (rc !== -Errno.EAGAIN) return rc; // a conflicting change: retry
  }
}
