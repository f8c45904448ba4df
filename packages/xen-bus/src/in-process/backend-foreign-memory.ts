import { Errno } from '@vmkit/core';
import type { XenForeignMapping, XenForeignMemory } from '../backend/foreign-memory.js';
import { ESRCH } from '../constants.js';
import type { DomainTable } from './domain.js';
import type { FrameView } from './frame-mapper.js';

class ForeignMapping implements XenForeignMapping {
  unmapped = false;
  constructor(
    readonly domid: number,
    readonly frames: readonly number[],
    readonly writable: boolean,
    readonly bytes: Uint8Array,
    readonly view: FrameView,
  ) {}
}

/** Foreign memory mapping for one backend domain of an InProcessXen. */
export class InProcessForeignMemory implements XenForeignMemory {
  private readonly live = new Set<ForeignMapping>();

  constructor(
    private readonly domains: DomainTable,
    readonly domid: number,
  ) {}

  map(domid: number, frames: readonly number[], writable: boolean): XenForeignMapping | number {
    if (this.domains.get(this.domid)?.privileged !== true) return -Errno.EPERM;
    const dom = this.domains.get(domid);
    if (dom === undefined) return -ESRCH;
    const view = dom.mapper.map(frames);
    if (typeof view === 'number') return view;
    const m = new ForeignMapping(domid, [...frames], writable, view.bytes, view);
    this.live.add(m);
    return m;
  }

  unmap(mapping: XenForeignMapping): number {
    const m = mapping as ForeignMapping;
    if (!this.live.delete(m)) return -Errno.EINVAL;
    m.unmapped = true;
    m.view.release();
    return 0;
  }
}
