import { Errno, type GuestMemoryRegion } from '@vmkit/core';

/** One grant_entry_v1 as the hypervisor sees it: GTF_permit_access with optional GTF_readonly. */
export class GrantEntry {
  /** Live backend mappings of this grant (Xen: the GTF_reading/GTF_writing busy bits). */
  mapCount = 0;
  /**
   * Grant copy's cache of the frame's bytes (a view of the one guest memory region holding it),
   * valid only while the domain's region list is `pageRegions` (the list is replaced whenever a
   * region is added or removed, e.g. when frames are re-backed for a mapping). A revoke drops the
   * entry, and with it the cache.
   */
  page: Uint8Array | undefined = undefined;
  pageRegions: readonly GuestMemoryRegion[] | undefined = undefined;

  constructor(
    readonly frame: number,
    readonly grantee: number,
    readonly readonly: boolean,
  ) {}
}

/** Refs below this are reserved, as in Linux (GNTTAB_NR_RESERVED_ENTRIES). */
export const FIRST_GRANT_REF = 8;

/** A guest domain's grant table (v1): entries it fills through grantAccess and clears with revoke. */
export class GrantTable {
  private readonly entries: (GrantEntry | undefined)[] = [];
  private readonly free: number[] = [];
  private next = FIRST_GRANT_REF;

  /** `size` entries (nr_grant_frames * 512 for v1). */
  constructor(readonly size: number) {}

  /** gnttab_grant_foreign_access: a ref, or -ENOSPC when the table is full. */
  grant(frame: number, grantee: number, readonly: boolean): number {
    let ref = this.free.pop();
    if (ref === undefined) {
      if (this.next >= this.size) return -Errno.ENOSPC;
      ref = this.next++;
    }
    this.entries[ref] = new GrantEntry(frame, grantee, readonly);
    return ref;
  }

  /**
   * gnttab_end_foreign_access_ref: 0, -EINVAL for a ref that is not in use, -EBUSY while a
   * backend still has it mapped (the guest must retry after the backend unmaps).
   */
  revoke(ref: number): number {
    const e = this.lookup(ref);
    if (e === undefined) return -Errno.EINVAL;
    if (e.mapCount > 0) return -Errno.EBUSY;
    this.entries[ref] = undefined;
    this.free.push(ref);
    return 0;
  }

  /** True when `ref` is a valid index of this table (otherwise Xen answers GNTST_bad_gntref). */
  inRange(ref: number): boolean {
    return Number.isInteger(ref) && ref >= 0 && ref < this.size;
  }

  lookup(ref: number): GrantEntry | undefined {
    return this.inRange(ref) ? this.entries[ref] : undefined;
  }

  /** Refs in use. */
  get used(): number {
    return this.entries.reduce((n, e) => (e === undefined ? n : n + 1), 0);
  }
}
