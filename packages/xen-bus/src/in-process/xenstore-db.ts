import type { AioContext, BottomHalf } from '@vmkit/core';
import type { XsPermission, XsWatchCallback } from '../backend/xenstore.js';
import { accessFor, canRead, isAtOrBelow, parentPath, XsNode } from './xenstore-node.js';

/** A registered watch of one connection. */
export interface XsWatch {
  /** Canonical absolute path, or the special name (`@releaseDomain`). */
  readonly node: string;
  readonly token: string;
  readonly callback: XsWatchCallback;
  /** Prefix to strip from reported paths when the watch was set with a relative path. */
  readonly relativeTo: string | undefined;
}

/** What the database needs from a connection to fire its watches. */
export interface XsWatcher {
  readonly domid: number;
  readonly watches: ReadonlyMap<string, XsWatch>;
}

interface PendingEvent {
  readonly watcher: XsWatcher;
  readonly key: string;
  readonly watch: XsWatch;
  readonly path: string;
}

export function watchKey(node: string, token: string): string {
  return `${node}\u0000${token}`;
}

/** The path a watch event reports (xenstored get_watch_path). */
function reportedPath(watch: XsWatch, path: string): string {
  if (watch.relativeTo === undefined) return path;
  const rest = path.slice(watch.relativeTo.length);
  return rest.startsWith('/') ? rest.slice(1) : rest;
}

/**
 * The xenstore tree shared by every connection, the generation counter transactions compare
 * against, and watch delivery: events are queued and delivered from a bottom half of `context`,
 * in the order they were fired.
 */
export class XenStoreDatabase {
  readonly root: XsNode;
  private generation = 0;
  private nextTx = 1;
  private readonly watchers = new Set<XsWatcher>();
  private queue: PendingEvent[] = [];
  private readonly bh: BottomHalf;

  constructor(
    context: AioContext,
    readonly isPrivileged: (domid: number) => boolean,
  ) {
    this.root = new XsNode('', [{ domid: 0, access: 'none' }], this.nextGeneration());
    this.bh = context.bh(this.deliver, 'xenstore-watch-events');
  }

  nextGeneration(): number {
    return ++this.generation;
  }

  newTransactionId(): number {
    return this.nextTx++;
  }

  addWatcher(w: XsWatcher): void {
    this.watchers.add(w);
  }

  removeWatcher(w: XsWatcher): void {
    this.watchers.delete(w);
  }

  /** Watches registered over all connections. */
  get watchCount(): number {
    let n = 0;
    for (const w of this.watchers) n += w.watches.size;
    return n;
  }

  /** Watch events not delivered yet. */
  get pendingEvents(): number {
    return this.queue.length;
  }

  /** Queues the event a watch fires on registration. */
  fireRegistration(watcher: XsWatcher, key: string, watch: XsWatch): void {
    this.enqueue({ watcher, key, watch, path: reportedPath(watch, watch.node) });
  }

  /**
   * fire_watches: `path` changed. `exact` fires only watches on `path` itself (used for the
   * nodes below a removed one); otherwise watches on `path` and its ancestors fire. `oldPerms`
   * lets watchers who just lost access (or the readers of a removed node) still hear of it.
   */
  fire(path: string, exact: boolean, oldPerms?: readonly XsPermission[]): void {
    for (const watcher of this.watchers) {
      if (watcher.watches.size === 0 || !this.permitted(watcher.domid, path, oldPerms)) continue;
      for (const [key, watch] of watcher.watches) {
        if (watch.node.startsWith('@')) continue;
        const hit = exact ? watch.node === path : isAtOrBelow(path, watch.node);
        if (hit) this.enqueue({ watcher, key, watch, path: reportedPath(watch, path) });
      }
    }
  }

  // watch_permitted: the node (old or new permissions) or its parent must be readable.
  private permitted(domid: number, path: string, oldPerms: readonly XsPermission[] | undefined): boolean {
    const privileged = this.isPrivileged(domid);
    if (privileged) return true;
    if (oldPerms !== undefined && canRead(accessFor(domid, false, oldPerms))) return true;
    const node = this.root.find(path);
    if (node === undefined) return false;
    if (canRead(accessFor(domid, false, node.perms))) return true;
    const parent = parentPath(path);
    const p = parent === undefined ? undefined : this.root.find(parent);
    return p !== undefined && canRead(accessFor(domid, false, p.perms));
  }

  private enqueue(e: PendingEvent): void {
    this.queue.push(e);
    this.bh.schedule();
  }

  private readonly deliver = (): void => {
    const batch = this.queue;
    this.queue = [];
    let i = 0;
    try {
      for (; i < batch.length; i++) {
        const e = batch[i];
        // An unwatched (or closed) watch gets no more events, even ones already queued.
        if (this.watchers.has(e.watcher) && e.watcher.watches.get(e.key) === e.watch) {
          e.watch.callback(e.path, e.watch.token);
        }
      }
    } finally {
      if (i + 1 < batch.length) {
        // A callback threw: keep the remaining events for the next batch.
        this.queue = batch.slice(i + 1).concat(this.queue);
        this.bh.schedule();
      }
    }
  };
}
