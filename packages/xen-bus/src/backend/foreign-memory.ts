/** A mapping of guest frames: one contiguous view, in `frames` order. */
export interface XenForeignMapping {
  readonly domid: number;
  readonly frames: readonly number[];
  readonly writable: boolean;
  /** frames.length * XEN_PAGE_SIZE bytes aliasing the guest's frames. */
  readonly bytes: Uint8Array;
  readonly unmapped: boolean;
}

/** Privileged mapping of any guest frame (libxenforeignmemory). */
export interface XenForeignMemory {
  /**
   * xenforeignmemory_map: returns the mapping, or -ESRCH (unknown domain), -EPERM (this domain
   * is not privileged), -EFAULT (a frame that is not guest memory), -EINVAL (no frames, or a
   * frame listed twice), -EBUSY (cannot be laid out contiguously while another mapping holds it).
   */
  map(domid: number, frames: readonly number[], writable: boolean): XenForeignMapping | number;
  /** xenforeignmemory_unmap: 0, or -EINVAL if not live. */
  unmap(mapping: XenForeignMapping): number;
}
