import { ConfigError, Errno, strerror, trace, type Bus, type Machine } from '@vmkit/core';
import type { XenEventChannels } from '../backend/event-channels.js';
import type { XenForeignMemory } from '../backend/foreign-memory.js';
import type { XenGrantTables } from '../backend/grant-tables.js';
import { XEN_EVENT_CHANNELS, XEN_FOREIGN_MEMORY, XEN_GRANT_TABLES, XEN_STORE } from '../backend/tokens.js';
import type { XenStore } from '../backend/xenstore.js';
import { parseXenbusState, XenbusState } from '../constants.js';
import { XEN_BACKEND_TYPE, type XenBackendType } from './backend-type.js';
import { WatchList } from './watch-list.js';
import type { XenDevice } from './xen-device.js';

/** Keys every XenDevice writes to its backend area; the rest configure the backend. */
const GENERIC_BACKEND_KEYS = new Set(['state', 'online', 'frontend', 'frontend-id', 'hotplug-status']);

const buses = new WeakMap<Bus, XenBus>();

export interface XenBusOptions {
  /** The guest domain whose devices this bus serves (QEMU's xen_domid). */
  readonly frontendId: number;
}

/**
 * QEMU's XenBus (hw/xen/xen-bus.c) over a core bus of type `xen-bus`: it holds the backend
 * interfaces its devices use, watches `backend/<type>/<frontend-id>` of every registered backend
 * type to create devices a toolstack set up in xenstore, and destroys devices that went offline.
 */
export class XenBus {
  readonly machine: Machine;
  readonly bus: Bus;
  readonly frontendId: number;
  readonly store: XenStore;
  readonly eventChannels: XenEventChannels;
  readonly grantTables: XenGrantTables;
  readonly foreignMemory: XenForeignMemory;
  readonly backendTypes: ReadonlyMap<string, XenBackendType>;
  /** The backend domain (the `domid` key of the store's home, else the store's domain). */
  backendId: number;
  /** The last enumeration or cleanup failure (also traced as vmkit:xen-bus:error). */
  lastError: Error | undefined;

  private readonly watches: WatchList;
  private readonly devicesByPath = new Map<string, XenDevice>();
  private readonly inactive = new Set<XenDevice>();
  private readonly creating = new Set<string>();
  private readonly destroying = new Set<XenDevice>();
  private readonly pending = new Set<Promise<void>>();
  private started = false;

  private constructor(machine: Machine, bus: Bus, options: XenBusOptions) {
    this.machine = machine;
    this.bus = bus;
    this.frontendId = options.frontendId;
    const c = machine.container;
    this.store = c.get<XenStore>(XEN_STORE);
    this.eventChannels = c.get<XenEventChannels>(XEN_EVENT_CHANNELS);
    this.grantTables = c.get<XenGrantTables>(XEN_GRANT_TABLES);
    this.foreignMemory = c.get<XenForeignMemory>(XEN_FOREIGN_MEMORY);
    const types = new Map<string, XenBackendType>();
    for (const t of c.getAll<XenBackendType>(XEN_BACKEND_TYPE, { optional: true })) {
      if (types.has(t.name)) throw new ConfigError(`xen backend type '${t.name}' is registered twice`);
      types.set(t.name, t);
    }
    this.backendTypes = types;
    this.backendId = this.store.domid;
    this.watches = new WatchList(this.store, `bus-${bus.name}`);
  }

  /** Wraps a core bus of type `xen-bus` (one XenBus per bus). */
  static attach(machine: Machine, bus: Bus, options: XenBusOptions): XenBus {
    if (bus.type.name !== 'xen-bus') throw new ConfigError(`bus '${bus.name}' is not a xen-bus`);
    if (buses.has(bus)) throw new ConfigError(`bus '${bus.name}' already has a XenBus`);
    const xenBus = new XenBus(machine, bus, options);
    buses.set(bus, xenBus);
    return xenBus;
  }

  /** The XenBus of a core bus, if it is one. */
  static of(bus: Bus | null): XenBus | undefined {
    return bus === null ? undefined : buses.get(bus);
  }

  get name(): string {
    return this.bus.name;
  }

  /** xen_bus_realize: learns the backend domid and starts the enumeration watches. */
  start(): void {
    if (this.started) return;
    this.started = true;
    const domid = this.store.read('domid');
    if (typeof domid === 'string' && /^[0-9]+$/.test(domid)) this.backendId = Number(domid);
    for (const type of this.backendTypes.keys()) {
      try {
        this.watches.add(this.typePath(type), () => this.backendChanged());
      } catch (e) {
        // Not fatal, as in QEMU: devices can still be added by hand.
        this.report(`failed to set up '${type}' enumeration watch`, e);
      }
    }
  }

  /** xen_bus_unrealize: removes the watches. */
  stop(): void {
    this.started = false;
    this.watches.removeAll();
  }

  /** Devices on this bus, by backend path. */
  devices(): XenDevice[] {
    return [...this.devicesByPath.values()];
  }

  /** Resolves when the device creations and removals the bus started have finished. */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.allSettled([...this.pending]);
  }

  /**
   * xen_device_unplug: asks for the device's removal as the toolstack does, writing
   * `online` = 0 and `state` = Closing in one transaction (retried on EAGAIN). The device goes
   * away once the frontend has closed. Returns 0 or a negative errno.
   */
  unplugRequest(device: XenDevice): number {
    const path = device.backendPath;
    if (path === undefined) return -Errno.ENODEV;
    for (;;) {
      const tx = this.store.transactionStart();
      if (tx < 0) return tx;
      let rc = this.store.write(`${path}/online`, '0', tx);
      if (rc === 0) rc = this.store.write(`${path}/state`, String(XenbusState.Closing), tx);
      if (rc < 0) {
        this.store.transactionEnd(tx, true);
        return rc;
      }
      rc = this.store.transactionEnd(tx);
      if (rc !== -Errno.EAGAIN) return rc;
    }
  }

  /** @internal XenDevice registration, once its backend path is known. */
  register(device: XenDevice, backendPath: string): void {
    if (this.devicesByPath.has(backendPath)) {
      throw new ConfigError(`xen-bus '${this.name}': backend ${backendPath} is already in use`);
    }
    this.devicesByPath.set(backendPath, device);
  }

  /** @internal */
  unregister(device: XenDevice): void {
    for (const [path, d] of this.devicesByPath) if (d === device) this.devicesByPath.delete(path);
    this.inactive.delete(device);
  }

  /** @internal A device that went offline and can be destroyed by the next cleanup. */
  markInactive(device: XenDevice): void {
    this.inactive.add(device);
  }

  private typePath(type: string): string {
    return `backend/${type}/${this.frontendId}`;
  }

  // xen_bus_backend_changed
  private backendChanged(): void {
    if (!this.started) return;
    for (const type of this.backendTypes.values()) this.enumerateType(type);
    this.cleanup();
  }

  // xen_bus_type_enumerate: create the devices a toolstack put online in state Initialising.
  private enumerateType(type: XenBackendType): void {
    const dir = this.typePath(type.name);
    const devids = this.store.directory(dir);
    if (typeof devids === 'number') return;
    for (const devid of devids) {
      const path = `${dir}/${devid}`;
      const state = parseXenbusState(this.store.read(`${path}/state`)) ?? XenbusState.Unknown;
      const online = this.store.read(`${path}/online`);
      const isOnline = typeof online === 'string' && /^\s*[0-9]+/.test(online) && parseInt(online, 10) !== 0;
      const abs = this.absolute(path);
      if (!isOnline || state !== XenbusState.Initialising) continue;
      if (this.devicesByPath.has(abs) || this.creating.has(abs)) continue;
      const options = this.readBackendOptions(path);
      if (options === undefined) continue;
      this.creating.add(abs);
      this.track(
        (async () => {
          try {
            await type.create(this, devid, options);
          } catch (e) {
            this.report(`failed to create '${type.name}' device '${devid}'`, e);
          } finally {
            this.creating.delete(abs);
          }
        })(),
      );
    }
  }

  // xen_bus_backend_create: the area's keys, read in one transaction.
  private readBackendOptions(path: string): Record<string, string> | undefined {
    for (;;) {
      const tx = this.store.transactionStart();
      if (tx < 0) return undefined;
      const keys = this.store.directory(path, tx);
      if (typeof keys === 'number') {
        this.store.transactionEnd(tx, true);
        return undefined;
      }
      const options: Record<string, string> = {};
      for (const key of keys) {
        if (GENERIC_BACKEND_KEYS.has(key)) continue;
        const value = this.store.read(`${path}/${key}`, tx);
        if (typeof value === 'string') options[key] = value;
      }
      const rc = this.store.transactionEnd(tx);
      if (rc === 0) return options;
      if (rc !== -Errno.EAGAIN) {
        this.report(`failed to read backend ${path}`, new Error(strerror(rc)));
        return undefined;
      }
    }
  }

  // xen_bus_cleanup: destroy the devices that went offline.
  private cleanup(): void {
    for (const device of [...this.inactive]) {
      this.inactive.delete(device);
      if (this.destroying.has(device)) continue;
      this.destroying.add(device);
      const type = this.backendTypes.get(device.backendType);
      this.track(
        (async () => {
          try {
            if (type?.destroy !== undefined) await type.destroy(this, device);
            else if (this.machine.hasDevice(device.id)) await this.machine.deviceDel(device.id);
          } catch (e) {
            this.report(`failed to destroy device '${device.id}'`, e);
          } finally {
            this.destroying.delete(device);
          }
        })(),
      );
    }
  }

  private absolute(path: string): string {
    return path.startsWith('/') ? path : `/local/domain/${this.store.domid}/${path}`;
  }

  private track(p: Promise<void>): void {
    this.pending.add(p);
    void p.finally(() => this.pending.delete(p));
  }

  private report(what: string, e: unknown): void {
    const error = e instanceof Error ? e : new Error(String(e));
    this.lastError = new Error(`${what}: ${error.message}`, { cause: error });
    trace('xen-bus', 'error', { bus: this.name, message: this.lastError.message });
  }
}
