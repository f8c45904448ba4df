/** Access of one domain to a node: XS_PERM_NONE/READ/WRITE/both ('n', 'r', 'w', 'b'). */
export type XsAccess = 'none' | 'read' | 'write' | 'both';

/**
 * One entry of a node's permission list. The first entry names the owner (who has full access)
 * and the access of every domain not listed; later entries give specific domains their access.
 * Privileged domains (dom0) have full access everywhere.
 */
export interface XsPermission {
  readonly domid: number;
  readonly access: XsAccess;
}

/** A watch event: the path that changed (relative if the watch was set with a relative path). */
export type XsWatchCallback = (path: string, token: string) => void;

/** No transaction (XBT_NULL). */
export const XBT_NULL = 0;

/**
 * A xenstore connection of one domain (libxenstore's xs_handle), with the calls mirroring the
 * wire protocol. Paths are absolute (`/local/domain/1/...`) or relative to the connection's home
 * `/local/domain/<domid>`. Errors are negative errno results, never exceptions:
 * -ENOENT (no such node, or unknown transaction), -EACCES (permission), -EINVAL (bad path or
 * argument), -EEXIST (duplicate watch), -E2BIG (value too long), -EAGAIN (transaction conflict),
 * -EPERM (an unprivileged domain changing a node's owner).
 *
 * Calls are synchronous, like libxenstore's blocking calls; watch events are asynchronous: they
 * are queued and delivered later in the store's event loop, never inside the call that caused
 * them. A watch fires once when it is registered, then on every change at or below its path
 * (writes, including writes of an unchanged value; creation; removal; permission changes).
 */
export interface XenStore {
  /** The domain this connection acts as. */
  readonly domid: number;
  read(path: string, tx?: number): string | number;
  /** Creates missing parents, inheriting the nearest existing ancestor's permissions. */
  write(path: string, value: string, tx?: number): number;
  /** Creates the node (empty value) if missing; 0 if it exists. */
  mkdir(path: string, tx?: number): number;
  /** The child names. */
  directory(path: string, tx?: number): string[] | number;
  /** Removes the node and everything below it; 0 also when it is missing but its parent exists. */
  rm(path: string, tx?: number): number;
  getPermissions(path: string, tx?: number): XsPermission[] | number;
  setPermissions(path: string, perms: readonly XsPermission[], tx?: number): number;
  /** 0, -EEXIST for the same (path, token) twice, -EINVAL for a bad path. */
  watch(path: string, token: string, callback: XsWatchCallback): number;
  /** 0, or -ENOENT when no such watch. Queued events of the watch are dropped. */
  unwatch(path: string, token: string): number;
  /** A transaction id (> 0), or a negative errno. */
  transactionStart(): number;
  /**
   * Commits (or with `abort`, discards) the transaction: 0, -EAGAIN when a node it read or
   * wrote was changed meanwhile by someone else (nothing is applied; retry), -ENOENT for an
   * unknown id.
   */
  transactionEnd(tx: number, abort?: boolean): number;
}
