import { ConfigError, GuestMemory, mainContext, type AioContext } from '@vmkit/core';
import type { XenEventChannels } from '../backend/event-channels.js';
import type { XenForeignMemory } from '../backend/foreign-memory.js';
import type { XenGrantTables } from '../backend/grant-tables.js';
import type { XenStore } from '../backend/xenstore.js';
import { DOMID_FIRST_RESERVED, XEN_PAGE_SIZE } from '../constants.js';
import { InProcessEventChannels } from './backend-event-channels.js';
import { InProcessForeignMemory } from './backend-foreign-memory.js';
import { InProcessGrantTables } from './backend-grant-tables.js';
import { DomainState } from './domain.js';
import { EventChannelHub } from './event-channel-hub.js';
import { XenGuestDomain } from './guest-domain.js';
import { XenStoreConnection } from './xenstore-connection.js';
import { XenStoreDatabase } from './xenstore-db.js';

export interface InProcessXenOptions {
  /** Where watch events and guest port handlers are delivered. Defaults to core's mainContext(). */
  context?: AioContext;
  /** Grant-table size of each domain in frames of 512 v1 entries (max_grant_frames). Default 32. */
  maxGrantFrames?: number;
}

export interface CreateDomainOptions {
  /** Defaults to the lowest free id from 1. */
  domid?: number;
  /** The domain's memory; default: `pages` pages of zeroed RAM at guest-physical 0. */
  memory?: GuestMemory;
  /** Size of the default memory in pages (default 256, 1 MiB). */
  pages?: number;
  /** Back the default memory with a SharedArrayBuffer. */
  shared?: boolean;
  /** A privileged domain bypasses xenstore permissions and may map foreign memory. */
  privileged?: boolean;
}

/** The four backend interfaces acting as one domain. */
export interface XenBackendInterfaces {
  readonly eventChannels: XenEventChannels;
  readonly grantTables: XenGrantTables;
  readonly foreignMemory: XenForeignMemory;
  readonly store: XenStore;
}

const GRANT_ENTRIES_PER_FRAME = 512;

/**
 * A simulated Xen hypervisor in the same process: domains with GuestMemory, a grant table per
 * domain, event channels, and xenstore with per-node permissions. Domain 0 (privileged, the
 * backend domain) exists from the start; guests are created with createDomain().
 *
 * Backends use only the four interfaces (`eventChannels`, `grantTables`, `foreignMemory`,
 * `store`, acting as dom0, or `backendInterfaces(domid)` for a driver domain); the frontend side
 * (grant access, unbound ports, notifications, the guest's own xenstore view) is on
 * XenGuestDomain.
 */
export class InProcessXen implements XenBackendInterfaces {
  readonly context: AioContext;
  private readonly domains = new Map<number, DomainState>();
  private readonly guests = new Map<number, XenGuestDomain>();
  private readonly hub = new EventChannelHub();
  private readonly db: XenStoreDatabase;
  private readonly grantEntries: number;
  private readonly dom0: XenBackendInterfaces;

  constructor(options: InProcessXenOptions = {}) {
    this.context = options.context ?? mainContext();
    const frames = options.maxGrantFrames ?? 32;
    if (!Number.isSafeInteger(frames) || frames <= 0) {
      throw new ConfigError(`InProcessXen: maxGrantFrames ${frames} must be a positive integer`);
    }
    this.grantEntries = frames * GRANT_ENTRIES_PER_FRAME;
    this.db = new XenStoreDatabase(this.context, (domid) => this.domains.get(domid)?.privileged === true);
    this.createDomain({ domid: 0, privileged: true, memory: new GuestMemory() });
    this.dom0 = this.backendInterfaces(0);
  }

  get eventChannels(): XenEventChannels {
    return this.dom0.eventChannels;
  }
  get grantTables(): XenGrantTables {
    return this.dom0.grantTables;
  }
  get foreignMemory(): XenForeignMemory {
    return this.dom0.foreignMemory;
  }
  get store(): XenStore {
    return this.dom0.store;
  }

  /** Fresh backend interfaces acting as `domid` (its own xenstore connection and grant handle). */
  backendInterfaces(domid: number): XenBackendInterfaces {
    this.state(domid);
    return {
      eventChannels: new InProcessEventChannels(this.hub, domid),
      grantTables: new InProcessGrantTables(this.domains, domid),
      foreignMemory: new InProcessForeignMemory(this.domains, domid),
      store: this.openStore(domid),
    };
  }

  /** A new xenstore connection acting as `domid`. */
  openStore(domid: number): XenStore {
    this.state(domid);
    return new XenStoreConnection(this.db, domid);
  }

  /**
   * Creates a domain and its xenstore home as a toolstack does: /local/domain/<id> readable by
   * the domain but owned by dom0, with `device` (read-only to the guest) and `data` (its own).
   */
  createDomain(options: CreateDomainOptions = {}): XenGuestDomain {
    const domid = options.domid ?? this.freeDomid();
    if (!Number.isInteger(domid) || domid < 0 || domid >= DOMID_FIRST_RESERVED) {
      throw new ConfigError(`InProcessXen: domain id ${domid} is not below ${DOMID_FIRST_RESERVED}`);
    }
    if (this.domains.has(domid)) throw new ConfigError(`InProcessXen: domain ${domid} already exists`);
    const memory = options.memory ?? this.newMemory(domid, options.pages ?? 256, options.shared === true);
    const state = new DomainState(domid, memory, options.privileged === true, this.grantEntries);
    this.domains.set(domid, state);
    this.hub.addDomain(domid);

    const home = `/local/domain/${domid}`;
    const ro = [
      { domid: 0, access: 'none' as const },
      { domid, access: 'read' as const },
    ];
    const toolstack = new XenStoreConnection(this.db, 0);
    toolstack.write(`${home}/domid`, String(domid));
    toolstack.setPermissions(home, ro);
    toolstack.setPermissions(`${home}/domid`, ro);
    toolstack.mkdir(`${home}/device`);
    toolstack.setPermissions(`${home}/device`, ro);
    toolstack.mkdir(`${home}/data`);
    toolstack.setPermissions(`${home}/data`, [{ domid, access: 'none' }]);
    toolstack.close();

    const guest = new XenGuestDomain(state, this.hub, this.context, this.openStore(domid), () =>
      this.openStore(domid),
    );
    this.guests.set(domid, guest);
    return guest;
  }

  /** The frontend-side handle of a domain (throws ConfigError for an unknown id). */
  domain(domid: number): XenGuestDomain {
    const guest = this.guests.get(domid);
    if (guest === undefined) throw new ConfigError(`InProcessXen: no domain ${domid}`);
    return guest;
  }

  hasDomain(domid: number): boolean {
    return this.domains.has(domid);
  }

  /** Watches registered by every xenstore connection (a leak check for unrealize). */
  get watchCount(): number {
    return this.db.watchCount;
  }

  /** Watch events queued and not yet delivered. */
  get pendingWatchEvents(): number {
    return this.db.pendingEvents;
  }

  /**
   * Runs the delivery context's bottom halves until none is left (watch events, port handlers,
   * and whatever they schedule). Returns how many ran; throws after `limit` batches (a livelock).
   */
  flush(limit = 10_000): number {
    let total = 0;
    for (let batches = 0; batches < limit; batches++) {
      const ran = this.context.poll();
      if (ran === 0) return total;
      total += ran;
    }
    throw new ConfigError(`InProcessXen.flush: still busy after ${limit} batches`);
  }

  private state(domid: number): DomainState {
    const s = this.domains.get(domid);
    if (s === undefined) throw new ConfigError(`InProcessXen: no domain ${domid}`);
    return s;
  }

  private freeDomid(): number {
    let id = 1;
    while (this.domains.has(id)) id++;
    return id;
  }

  private newMemory(domid: number, pages: number, shared: boolean): GuestMemory {
    if (!Number.isSafeInteger(pages) || pages <= 0) {
      throw new ConfigError(`InProcessXen: domain ${domid} needs a positive page count, not ${pages}`);
    }
    const size = pages * XEN_PAGE_SIZE;
    const memory = new GuestMemory();
    memory.addRegion(0, shared ? new SharedArrayBuffer(size) : new ArrayBuffer(size), `d${domid}-ram`);
    return memory;
  }
}
