import { Errno } from '@vmkit/core';
import { XBT_NULL, type XenStore, type XsPermission, type XsWatchCallback } from '../backend/xenstore.js';
import { watchKey, type XenStoreDatabase, type XsWatch, type XsWatcher } from './xenstore-db.js';
import {
  accessFor,
  baseName,
  canonicalPath,
  canRead,
  canWrite,
  homePath,
  parentPath,
  XENSTORE_PAYLOAD_MAX,
  XsNode,
} from './xenstore-node.js';

/** Where an operation reads and writes: the live tree, or a transaction's private copy. */
interface View {
  readonly root: XsNode;
  /** Looks a node up, remembering (in a transaction) the generation first seen. */
  get(path: string): XsNode | undefined;
  /** The node (or its list of children) changed. */
  changed(node: XsNode): void;
  /** Watches fire for the live tree only; a transaction fires them when it commits. */
  fire(path: string, exact: boolean, oldPerms?: readonly XsPermission[]): void;
}

type Op =
  | { readonly kind: 'write'; readonly path: string; readonly value: string }
  | { readonly kind: 'mkdir'; readonly path: string }
  | { readonly kind: 'rm'; readonly path: string }
  | { readonly kind: 'perms'; readonly path: string; readonly perms: readonly XsPermission[] };

interface Transaction {
  readonly view: View;
  /** Generation of every node the transaction looked at when it first did (-1: absent). */
  readonly accessed: Map<string, number>;
  /** Successful changes, replayed on the live tree at commit. */
  readonly ops: Op[];
}

const accessValues = new Set(['none', 'read', 'write', 'both']);

/** A xenstore connection acting as one domain, with that domain's permissions. */
export class XenStoreConnection implements XenStore, XsWatcher {
  readonly watches = new Map<string, XsWatch>();
  private readonly transactions = new Map<number, Transaction>();
  private readonly live: View;
  private isClosed = false;

  constructor(
    private readonly db: XenStoreDatabase,
    readonly domid: number,
  ) {
    this.live = {
      root: db.root,
      get: (path) => db.root.find(path),
      changed: (node) => {
        node.generation = db.nextGeneration();
      },
      fire: (path, exact, oldPerms) => db.fire(path, exact, oldPerms),
    };
    db.addWatcher(this);
  }

  private get privileged(): boolean {
    return this.db.isPrivileged(this.domid);
  }

  /** Drops the watches and open transactions of this connection (xs_close). */
  close(): void {
    this.isClosed = true;
    this.watches.clear();
    this.transactions.clear();
    this.db.removeWatcher(this);
  }

  read(path: string, tx = XBT_NULL): string | number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    const node = r.view.get(r.abs);
    if (node === undefined) return this.errnoFromParents(r.view, r.abs, 'read');
    return canRead(this.access(node)) ? node.value : -Errno.EACCES;
  }

  directory(path: string, tx = XBT_NULL): string[] | number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    const node = r.view.get(r.abs);
    if (node === undefined) return this.errnoFromParents(r.view, r.abs, 'read');
    return canRead(this.access(node)) ? [...node.children.keys()] : -Errno.EACCES;
  }

  getPermissions(path: string, tx = XBT_NULL): XsPermission[] | number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    const node = r.view.get(r.abs);
    if (node === undefined) return this.errnoFromParents(r.view, r.abs, 'read');
    return canRead(this.access(node)) ? node.perms.map((p) => ({ ...p })) : -Errno.EACCES;
  }

  write(path: string, value: string, tx = XBT_NULL): number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    if (Buffer.byteLength(r.abs) + 1 + Buffer.byteLength(value) > XENSTORE_PAYLOAD_MAX) return -Errno.E2BIG;
    return this.logged(r.tx, { kind: 'write', path: r.abs, value }, this.doWrite(r.view, r.abs, value));
  }

  mkdir(path: string, tx = XBT_NULL): number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    return this.logged(r.tx, { kind: 'mkdir', path: r.abs }, this.doMkdir(r.view, r.abs));
  }

  rm(path: string, tx = XBT_NULL): number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    return this.logged(r.tx, { kind: 'rm', path: r.abs }, this.doRm(r.view, r.abs));
  }

  setPermissions(path: string, perms: readonly XsPermission[], tx = XBT_NULL): number {
    const r = this.resolve(path, tx);
    if (typeof r === 'number') return r;
    const valid =
      perms.length > 0 &&
      perms.every(
        (p) => Number.isInteger(p.domid) && p.domid >= 0 && p.domid <= 0xffff && accessValues.has(p.access),
      );
    if (!valid) return -Errno.EINVAL;
    const copy = perms.map((p) => ({ domid: p.domid, access: p.access }));
    return this.logged(
      r.tx,
      { kind: 'perms', path: r.abs, perms: copy },
      this.doSetPerms(r.view, r.abs, copy),
    );
  }

  watch(path: string, token: string, callback: XsWatchCallback): number {
    if (this.isClosed) return -Errno.EINVAL;
    const special = path.startsWith('@');
    const node = special ? path : canonicalPath(this.domid, path);
    if (node === undefined || (special && !/^@[A-Za-z0-9_-]+$/.test(path))) return -Errno.EINVAL;
    const key = watchKey(node, token);
    if (this.watches.has(key)) return -Errno.EEXIST;
    const relative = !special && !path.startsWith('/');
    const watch: XsWatch = { node, token, callback, relativeTo: relative ? homePath(this.domid) : undefined };
    this.watches.set(key, watch);
    // "We fire once up front: simplifies clients and restart."
    this.db.fireRegistration(this, key, watch);
    return 0;
  }

  unwatch(path: string, token: string): number {
    const node = path.startsWith('@') ? path : canonicalPath(this.domid, path);
    if (node === undefined) return -Errno.EINVAL;
    return this.watches.delete(watchKey(node, token)) ? 0 : -Errno.ENOENT;
  }

  transactionStart(): number {
    if (this.isClosed) return -Errno.EINVAL;
    const id = this.db.newTransactionId();
    const root = this.db.root.clone();
    const accessed = new Map<string, number>();
    const view: View = {
      root,
      get: (path) => {
        const node = root.find(path);
        if (!accessed.has(path)) accessed.set(path, node?.generation ?? -1);
        return node;
      },
      changed: (node) => {
        node.generation = this.db.nextGeneration();
      },
      fire: () => {},
    };
    this.transactions.set(id, { view, accessed, ops: [] });
    return id;
  }

  transactionEnd(tx: number, abort = false): number {
    const t = this.transactions.get(tx);
    if (t === undefined) return -Errno.ENOENT;
    this.transactions.delete(tx);
    if (abort) return 0;
    for (const [path, generation] of t.accessed) {
      if ((this.db.root.find(path)?.generation ?? -1) !== generation) return -Errno.EAGAIN;
    }
    // Every node the operations depended on is unchanged, so replaying them gives the same results.
    for (const op of t.ops) {
      switch (op.kind) {
        case 'write':
          this.doWrite(this.live, op.path, op.value);
          break;
        case 'mkdir':
          this.doMkdir(this.live, op.path);
          break;
        case 'rm':
          this.doRm(this.live, op.path);
          break;
        case 'perms':
          this.doSetPerms(this.live, op.path, op.perms);
          break;
      }
    }
    return 0;
  }

  private resolve(
    path: string,
    tx: number,
  ): { abs: string; view: View; tx: Transaction | undefined } | number {
    if (this.isClosed) return -Errno.EINVAL;
    const abs = canonicalPath(this.domid, path);
    if (abs === undefined) return -Errno.EINVAL;
    if (tx === XBT_NULL) return { abs, view: this.live, tx: undefined };
    const t = this.transactions.get(tx);
    return t === undefined ? -Errno.ENOENT : { abs, view: t.view, tx: t };
  }

  private logged(tx: Transaction | undefined, op: Op, result: number): number {
    if (tx !== undefined && result === 0) tx.ops.push(op);
    return result;
  }

  private access(node: XsNode): ReturnType<typeof accessFor> {
    return accessFor(this.domid, this.privileged, node.perms);
  }

  // errno_from_parents: a missing node is -ENOENT, unless the nearest existing ancestor denies `need`.
  private errnoFromParents(view: View, abs: string, need: 'read' | 'write'): number {
    for (let p = parentPath(abs); p !== undefined; p = parentPath(p)) {
      const node = view.get(p);
      if (node === undefined) continue;
      const a = this.access(node);
      return (need === 'read' ? canRead(a) : canWrite(a)) ? -Errno.ENOENT : -Errno.EACCES;
    }
    return -Errno.ENOENT;
  }

  private doWrite(view: View, abs: string, value: string): number {
    const node = view.get(abs);
    if (node === undefined) return this.create(view, abs, value);
    if (!canWrite(this.access(node))) return -Errno.EACCES;
    node.value = value;
    view.changed(node);
    view.fire(abs, false);
    return 0;
  }

  private doMkdir(view: View, abs: string): number {
    const node = view.get(abs);
    if (node === undefined) return this.create(view, abs, '');
    return canWrite(this.access(node)) ? 0 : -Errno.EACCES;
  }

  // create_node: missing parents are created too; nodes inherit the nearest ancestor's
  // permissions, and what an unprivileged domain creates, it owns.
  private create(view: View, abs: string, value: string): number {
    const missing = [abs];
    let ancestor: XsNode | undefined;
    for (let p = parentPath(abs); p !== undefined; p = parentPath(p)) {
      ancestor = view.get(p);
      if (ancestor !== undefined) break;
      missing.push(p);
    }
    if (ancestor === undefined) return -Errno.ENOENT;
    if (!canWrite(this.access(ancestor))) return -Errno.EACCES;
    let perms = ancestor.perms;
    if (!this.privileged) perms = [{ domid: this.domid, access: perms[0].access }, ...perms.slice(1)];
    let parent = ancestor;
    for (let i = missing.length - 1; i >= 0; i--) {
      const child = new XsNode(i === 0 ? value : '', perms, 0);
      view.changed(child);
      parent.children.set(baseName(missing[i]), child);
      view.changed(parent);
      parent = child;
    }
    view.fire(abs, false);
    return 0;
  }

  private doRm(view: View, abs: string): number {
    if (abs === '/') return -Errno.EINVAL;
    const node = view.get(abs);
    const parentName = parentPath(abs) ?? '/';
    const parent = view.get(parentName);
    if (node === undefined) return parent !== undefined ? 0 : this.errnoFromParents(view, abs, 'write');
    if (!canWrite(this.access(node))) return -Errno.EACCES;
    if (parent === undefined) return -Errno.ENOENT;
    // Watches on the removed descendants fire for their own node only (exact), deepest first.
    const below: [string, XsNode][] = [];
    const collect = (path: string, n: XsNode): void => {
      for (const [name, child] of n.children) {
        const childPath = `${path}/${name}`;
        collect(childPath, child);
        below.push([childPath, child]);
      }
    };
    collect(abs, node);
    parent.children.delete(baseName(abs));
    view.changed(parent);
    for (const [path, n] of below) view.fire(path, true, n.perms);
    view.fire(abs, false, node.perms);
    return 0;
  }

  private doSetPerms(view: View, abs: string, perms: readonly XsPermission[]): number {
    const node = view.get(abs);
    if (node === undefined) return this.errnoFromParents(view, abs, 'write');
    if (!canWrite(this.access(node))) return -Errno.EACCES;
    // Unprivileged domains may not give their nodes away.
    if (!this.privileged && perms[0].domid !== node.perms[0].domid) return -Errno.EPERM;
    const old = node.perms;
    node.perms = perms;
    view.changed(node);
    view.fire(abs, false, old);
    return 0;
  }
}
