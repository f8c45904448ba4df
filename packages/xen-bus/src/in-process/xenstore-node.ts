import type { XsAccess, XsPermission } from '../backend/xenstore.js';

/** Longest absolute path xenstored accepts (XENSTORE_ABS_PATH_MAX). */
export const XENSTORE_ABS_PATH_MAX = 3072;
/** Largest message payload (XENSTORE_PAYLOAD_MAX): path + NUL + value for a write. */
export const XENSTORE_PAYLOAD_MAX = 4096;

const validPath = /^(\/[A-Za-z0-9_@-]+)+$/;

/** The home directory of a domain's connection: the base of its relative paths. */
export function homePath(domid: number): string {
  return `/local/domain/${domid}`;
}

/** Absolute canonical path, or undefined when `path` is not a valid node name. */
export function canonicalPath(domid: number, path: string): string | undefined {
  const abs = path.startsWith('/') ? path : path === '' ? homePath(domid) : `${homePath(domid)}/${path}`;
  if (abs.length > XENSTORE_ABS_PATH_MAX) return undefined;
  return abs === '/' || validPath.test(abs) ? abs : undefined;
}

export function parentPath(path: string): string | undefined {
  if (path === '/') return undefined;
  const i = path.lastIndexOf('/');
  return i === 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** Is `child` the node `parent` or below it (xenstored is_child)? */
export function isAtOrBelow(child: string, parent: string): boolean {
  return parent === '/' || child === parent || child.startsWith(`${parent}/`);
}

/** perm_for_conn: the access of `domid` to a node with `perms`. */
export function accessFor(domid: number, privileged: boolean, perms: readonly XsPermission[]): XsAccess {
  if (privileged || perms[0].domid === domid) return 'both';
  for (let i = 1; i < perms.length; i++) if (perms[i].domid === domid) return perms[i].access;
  return perms[0].access;
}

export function canRead(access: XsAccess): boolean {
  return access === 'read' || access === 'both';
}

export function canWrite(access: XsAccess): boolean {
  return access === 'write' || access === 'both';
}

/** One xenstore node. `generation` changes whenever the node or its list of children changes. */
export class XsNode {
  readonly children = new Map<string, XsNode>();

  constructor(
    public value: string,
    public perms: readonly XsPermission[],
    public generation: number,
  ) {}

  /** A deep copy (a transaction's private tree). */
  clone(): XsNode {
    const copy = new XsNode(this.value, this.perms, this.generation);
    for (const [name, child] of this.children) copy.children.set(name, child.clone());
    return copy;
  }

  /** The node at canonical absolute `path` below this root. */
  find(path: string): XsNode | undefined {
    if (path === '/') return this;
    let start = 1;
    let end = path.indexOf('/', start);
    let node = this.children.get(end < 0 ? path.slice(start) : path.slice(start, end));
    while (node !== undefined && end >= 0) {
      start = end + 1;
      end = path.indexOf('/', start);
      node = node.children.get(end < 0 ? path.slice(start) : path.slice(start, end));
    }
    return node;
  }
}
