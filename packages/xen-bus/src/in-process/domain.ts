import type { GuestMemory } from '@vmkit/core';
import { FrameMapper } from './frame-mapper.js';
import { GrantTable } from './grant-table.js';

/** The hypervisor's record of one domain. */
export class DomainState {
  readonly mapper: FrameMapper;
  readonly grants: GrantTable;

  constructor(
    readonly domid: number,
    readonly memory: GuestMemory,
    readonly privileged: boolean,
    grantEntries: number,
  ) {
    this.mapper = new FrameMapper(memory);
    this.grants = new GrantTable(grantEntries);
  }
}

/** The domains of one simulated hypervisor. */
export type DomainTable = ReadonlyMap<number, DomainState>;
