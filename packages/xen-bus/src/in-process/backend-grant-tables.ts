import { Errno } from '@vmkit/core';
import type {
  GrantCopyDirection,
  XenGrantCopySegment,
  XenGrantMapping,
  XenGrantTables,
} from '../backend/grant-tables.js';
import { ESRCH, GntStatus, XEN_PAGE_SIZE } from '../constants.js';
import type { DomainTable } from './domain.js';
import type { FrameView } from './frame-mapper.js';
import type { GrantEntry } from './grant-table.js';

/** Default page limit of a handle, before setMaxGrants. */
export const DEFAULT_MAX_GRANTS = 1024;

class GrantMapping implements XenGrantMapping {
  unmapped = false;
  constructor(
    readonly domid: number,
    readonly refs: readonly number[],
    readonly writable: boolean,
    readonly bytes: Uint8Array,
    readonly entries: readonly GrantEntry[],
    readonly view: FrameView,
  ) {}
}

/** A grant-table handle of one backend domain of an InProcessXen (a gntdev/gntalloc open). */
export class InProcessGrantTables implements XenGrantTables {
  private limit = DEFAULT_MAX_GRANTS;
  private mappedPages = 0;
  private readonly live = new Set<GrantMapping>();

  constructor(
    private readonly domains: DomainTable,
    readonly domid: number,
  ) {}

  get maxGrants(): number {
    return this.limit;
  }

  /** Pages currently mapped through this handle. */
  get mapped(): number {
    return this.mappedPages;
  }

  open(): XenGrantTables {
    return new InProcessGrantTables(this.domains, this.domid);
  }

  close(): void {
    for (const m of [...this.live]) this.unmap(m);
  }

  setMaxGrants(count: number): number {
    if (!Number.isSafeInteger(count) || count <= 0) return -Errno.EINVAL;
    this.limit = count;
    return 0;
  }

  mapRefs(domid: number, refs: readonly number[], writable: boolean): XenGrantMapping | number {
    const dom = this.domains.get(domid);
    if (dom === undefined) return -ESRCH;
    if (refs.length === 0) return -Errno.EINVAL;
    if (this.mappedPages + refs.length > this.limit) return -Errno.ENOMEM;
    const entries: GrantEntry[] = [];
    for (const ref of refs) {
      const e = dom.grants.lookup(ref);
      if (e === undefined || e.grantee !== this.domid) return -Errno.EINVAL;
      if (writable && e.readonly) return -Errno.EACCES;
      entries.push(e);
    }
    const view = dom.mapper.map(entries.map((e) => e.frame));
    if (typeof view === 'number') return view;
    for (const e of entries) e.mapCount++;
    const mapping = new GrantMapping(domid, [...refs], writable, view.bytes, entries, view);
    this.live.add(mapping);
    this.mappedPages += refs.length;
    return mapping;
  }

  unmap(mapping: XenGrantMapping): number {
    const m = mapping as GrantMapping;
    if (!this.live.delete(m)) return -Errno.EINVAL;
    m.unmapped = true;
    m.view.release();
    for (const e of m.entries) e.mapCount--;
    this.mappedPages -= m.refs.length;
    return 0;
  }

  copy(
    direction: GrantCopyDirection,
    segments: readonly XenGrantCopySegment[],
    count = segments.length,
  ): number {
    let first: number = GntStatus.okay;
    const n = Math.min(count, segments.length);
    for (let i = 0; i < n; i++) {
      const seg = segments[i];
      const status = this.copyOne(direction, seg);
      seg.status = status;
      if (status !== GntStatus.okay && first === GntStatus.okay) first = status;
    }
    return first;
  }

  // One gnttab_copy segment. Statuses as Xen gives them: an entry that is unused, revoked,
  // granted to another domain or read-only (for a copy into it) is a general error.
  private copyOne(direction: GrantCopyDirection, seg: XenGrantCopySegment): number {
    const dom = this.domains.get(seg.domid);
    if (dom === undefined) return GntStatus.badDomain;
    if (!dom.grants.inRange(seg.ref)) return GntStatus.badGntref;
    const e = dom.grants.lookup(seg.ref);
    if (e === undefined || e.grantee !== this.domid) return GntStatus.generalError;
    if (direction === 'to-guest' && e.readonly) return GntStatus.generalError;
    const { offset, length, local } = seg;
    if (
      !Number.isInteger(offset) ||
      !Number.isInteger(length) ||
      offset < 0 ||
      length < 0 ||
      offset + length > XEN_PAGE_SIZE ||
      local.length < length
    ) {
      return GntStatus.badCopyArg;
    }
    const gpa = e.frame * XEN_PAGE_SIZE + offset;
    if (!dom.memory.isMapped(gpa, length)) return GntStatus.badPage;
    const bytes = local.length === length ? local : local.subarray(0, length);
    if (direction === 'to-guest') dom.memory.write(gpa, bytes);
    else dom.memory.read(gpa, bytes);
    return GntStatus.okay;
  }
}
