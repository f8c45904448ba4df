/** A grant copy goes into the guest's page (read completion) or out of it (write request). */
export type GrantCopyDirection = 'to-guest' | 'from-guest';

/**
 * One grant-copy segment (xengnttab_grant_copy_segment_t). The caller owns the objects and may
 * reuse them request after request; `status` is written by copy().
 */
export interface XenGrantCopySegment {
  /** The granting (frontend) domain. */
  domid: number;
  /** The grant reference in that domain's table. */
  ref: number;
  /** Byte offset in the granted page; offset + length must not cross the page. */
  offset: number;
  length: number;
  /** Local bytes: source for 'to-guest', destination for 'from-guest' (the first `length` bytes). */
  local: Uint8Array;
  /** Out: a GntStatus value (0 = okay). */
  status: number;
}

/** A mapping of granted pages: one contiguous view over all of them, in `refs` order. */
export interface XenGrantMapping {
  readonly domid: number;
  readonly refs: readonly number[];
  readonly writable: boolean;
  /**
   * refs.length * XEN_PAGE_SIZE bytes aliasing the guest's pages. A read-only mapping is a
   * promise not to write through it; a JS view cannot enforce it.
   */
  readonly bytes: Uint8Array;
  /** True once unmapped; the view must not be used any more. */
  readonly unmapped: boolean;
}

/**
 * Grant-table operations of a backend domain (libxengnttab). Guest mistakes come back as values:
 * negative errno results for map/unmap, GNTST_* statuses for copy; nothing throws on them.
 */
export interface XenGrantTables {
  /** xengnttab_open: an independent handle with its own limit and mappings (one per device). */
  open(): XenGrantTables;
  /** xengnttab_close: unmaps what this handle still has mapped. */
  close(): void;
  /** The most pages this handle may have mapped at once (xengnttab_set_max_grants). */
  readonly maxGrants: number;
  /** 0, or -EINVAL for a count that is not a positive integer. */
  setMaxGrants(count: number): number;
  /**
   * xengnttab_map_domain_grant_refs: maps the pages granted by `domid` under `refs` as ONE
   * contiguous view (for multi-page rings). Returns the mapping, or -ESRCH (unknown domain),
   * -EINVAL (no refs; a ref out of range, unused, revoked or not granted to this domain; a page
   * listed twice), -EACCES (writable map of a read-only grant), -ENOMEM (over maxGrants),
   * -EFAULT (a granted frame is not guest memory), -EBUSY (the pages cannot be laid out
   * contiguously because another live mapping holds them).
   */
  mapRefs(domid: number, refs: readonly number[], writable: boolean): XenGrantMapping | number;
  /** xengnttab_unmap: 0, or -EINVAL if the mapping is not live in this handle. */
  unmap(mapping: XenGrantMapping): number;
  /**
   * xengnttab_grant_copy of the first `count` segments (default: all). Sets each segment's
   * status and returns 0 when every segment succeeded, else the first failing status.
   * A copy 'to-guest' needs a writable grant: a read-only one fails with generalError, as in Xen.
   */
  copy(direction: GrantCopyDirection, segments: readonly XenGrantCopySegment[], count?: number): number;
}
