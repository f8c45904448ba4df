import { Errno } from '@vmkit/core';
import type {
  GrantCopyDirection,
  XenGrantCopySegment,
  XenGrantMapping,
  XenGrantTables,
} from '../backend/grant-tables.js';
import { ESRCH, GntStatus, XEN_PAGE_SIZE } from '../constants.js';
import type { DomainState, DomainTable } from './domain.js';
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
    const toGuest = direction === 'to-guest';
    // One batch (GNTTABOP_copy): the domain is looked up once per run of segments naming it.
    let domid = NaN;
    let dom: DomainState | undefined;
    for (let i = 0; i < n; i++) {
      const seg = segments[i];
      if (seg.domid !== domid) {
        domid = seg.domid;
        dom = this.domains.get(domid);
      }
      const status = dom === undefined ? GntStatus.badDomain : this.copyOne(toGuest, dom, seg);
      seg.status = status;
      if (status !== GntStatus.okay && first === GntStatus.okay) first = status;
    }
    return first;
  }

  // One gnttab_copy segment. Statuses as Xen gives them: an entry that is unused, revoked,
  // granted to another domain or read-only (for a copy into it) is a general error.
  private copyOne(toGuest: boolean, dom: DomainState, seg: XenGrantCopySegment): number {
    const grants = dom.grants;
    const ref = seg.ref;
    const e = grants.lookup(ref);
    if (e === undefined) return grants.inRange(ref) ? GntStatus.generalError : GntStatus.badGntref;
    if (e.grantee !== this.domid || (toGuest && e.readonly)) return GntStatus.generalError;
    const offset = seg.offset;
    const length = seg.length;
    const local = seg.local;
    // Integers (the |0 test also refuses NaN, fractions and anything beyond 2^31) within the page.
    if (
      (offset | 0) !== offset ||
      (length | 0) !== length ||
      offset < 0 ||
      length < 0 ||
      offset + length > XEN_PAGE_SIZE ||
      local.length < length
    ) {
      return GntStatus.badCopyArg;
    }
    // The frame's bytes, resolved once per grant and region layout rather than per copy.
    const memory = dom.memory;
    const regions = memory.regions;
    let page = e.page;
    if (page === undefined || e.pageRegions !== regions) {
      page = memory.tryView(e.frame * XEN_PAGE_SIZE, XEN_PAGE_SIZE);
      e.page = page;
      e.pageRegions = regions;
      if (page === undefined) return this.copySpanning(toGuest, dom, e.frame, seg);
    }
    if (toGuest) page.set(local.length === length ? local : local.subarray(0, length), offset);
    else local.set(length === XEN_PAGE_SIZE ? page : page.subarray(offset, offset + length));
    return GntStatus.okay;
  }

  // A frame that no single region holds (unmapped, or split across adjacent regions): copy
  // through GuestMemory, which checks the touched bytes only.
  private copySpanning(toGuest: boolean, dom: DomainState, frame: number, seg: XenGrantCopySegment): number {
    const { offset, length, local } = seg;
    const gpa = frame * XEN_PAGE_SIZE + offset;
    if (!dom.memory.isMapped(gpa, length)) return GntStatus.badPage;
    const bytes = local.length === length ? local : local.subarray(0, length);
    if (toGuest) dom.memory.write(gpa, bytes);
    else dom.memory.read(gpa, bytes);
    return GntStatus.okay;
  }
}
