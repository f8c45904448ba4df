import { strerror } from '@vmkit/core';
import type { XenStore } from '../backend/xenstore.js';

let nextToken = 0;

/** One registered watch; `remove()` unregisters it. */
export interface XenWatch {
  readonly path: string;
  readonly token: string;
  remove(): void;
}

/**
 * Watches of one owner (QEMU's XenWatchList): each gets a token of its own so events can be
 * routed to its handler, and all of them can be removed at once on unrealize.
 */
export class WatchList {
  private readonly watches = new Set<XenWatch>();

  constructor(
    private readonly store: XenStore,
    private readonly owner: string,
  ) {}

  /** xs_node_watch on `path`; throws an Error with the errno text when xenstore refuses. */
  add(path: string, handler: (path: string) => void): XenWatch {
    const token = `vmkit-${this.owner}-${++nextToken}`;
    const rc = this.store.watch(path, token, (p) => handler(p));
    if (rc < 0) throw new Error(`failed to watch '${path}': ${strerror(rc)}`);
    const watch: XenWatch = {
      path,
      token,
      remove: () => {
        if (this.watches.delete(watch)) this.store.unwatch(path, token);
      },
    };
    this.watches.add(watch);
    return watch;
  }

  removeAll(): void {
    for (const w of [...this.watches]) w.remove();
  }

  get size(): number {
    return this.watches.size;
  }
}
