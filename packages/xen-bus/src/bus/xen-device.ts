import {
  ConfigError,
  strerror,
  trace,
  type AioContext,
  type Device,
  type DeviceContext,
  type IntProperty,
  type Machine,
} from '@vmkit/core';
import type { XenEventChannelPort, XenEventHandler } from '../backend/event-channels.js';
import type {
  GrantCopyDirection,
  XenGrantCopySegment,
  XenGrantMapping,
  XenGrantTables,
} from '../backend/grant-tables.js';
import type { XenStore } from '../backend/xenstore.js';
import { DOMID_FIRST_RESERVED, XenbusState, type XenbusStateValue } from '../constants.js';
import {
  parseXenUint,
  readEventChannel,
  readProtocol,
  readRingRefs,
  type XenProtocol,
} from './frontend-keys.js';
import { WatchList } from './watch-list.js';
import { XenBus } from './xen-bus.js';
import { XenDeviceError } from './xen-device-error.js';
import { andThen, XenDeviceStateMachine } from './xen-device-state.js';

/** The property every Xen device has (QEMU's xen_device_props). */
export const xenDeviceProperties = {
  'frontend-id': {
    kind: 'int',
    min: 0,
    max: DOMID_FIRST_RESERVED - 1,
    description: "the frontend's domain id (default: the bus's)",
  } satisfies IntProperty,
} as const;

export interface XenDeviceProps {
  readonly 'frontend-id'?: number;
}

/**
 * QEMU's XenDevice (hw/xen/xen-bus.c): the abstract base of Xen PV backends. It creates the
 * backend area `/local/domain/<backend>/backend/<type>/<frontend>/<name>` (readable by the
 * frontend) and the frontend area `/local/domain/<frontend>/device/<frontendType>/<name>`
 * (owned by the frontend), runs the backend state machine from the `state`/`online` watches,
 * and offers the backend operations (event channels, grant map and copy) for the device's domain.
 *
 * Subclasses name the xenstore types and the device, and implement connect()/disconnect();
 * frontendChanged() has the usual connect-on-Initialised/Connected behaviour.
 */
export abstract class XenDevice implements Device {
  readonly id: string;
  readonly machine: Machine;
  readonly xenBus: XenBus;
  /** The frontend's domain. */
  readonly frontendId: number;
  /** The last failure of a state-machine hook (also traced as vmkit:xen-device:error). */
  lastError: Error | undefined;

  /** xendev_class->backend: the backend directory (`qdisk`). */
  abstract readonly backendType: string;
  /** xendev_class->device: the frontend directory (`vbd`). */
  abstract readonly frontendType: string;

  private deviceName: string | undefined;
  private backendArea: string | undefined;
  private frontendArea: string | undefined;
  private grantHandle: XenGrantTables | undefined;
  private readonly ports = new Set<XenEventChannelPort>();
  private readonly watchList: WatchList;
  private readonly sm: XenDeviceStateMachine;

  constructor(ctx: DeviceContext, props: XenDeviceProps) {
    const xenBus = XenBus.of(ctx.bus);
    if (xenBus === undefined) throw new ConfigError(`device '${ctx.id}' must be plugged into a xen-bus`);
    this.id = ctx.id;
    this.machine = ctx.machine;
    this.xenBus = xenBus;
    this.frontendId = props['frontend-id'] ?? xenBus.frontendId;
    this.watchList = new WatchList(xenBus.store, `dev-${ctx.id}`);
    this.sm = new XenDeviceStateMachine(this, {
      frontendChanged: (state) => this.frontendChanged(state),
      report: (what, e) => this.report(what, e),
    });
  }

  // ---- what subclasses provide ----

  /** xendev_class->get_name: the device's name in both areas (for a disk, its vdev number). */
  protected abstract getName(): string;
  /** xendev_class->realize: publishes the backend's own keys (features, sizes). */
  protected realizeBackend(): void | Promise<void> {}
  /** xendev_class->unrealize. */
  protected unrealizeBackend(): void | Promise<void> {}
  /** Starts serving the frontend (read its ring details, map, bind). Throw XenDeviceError to refuse. */
  protected connect(): void | Promise<void> {}
  /** Stops serving the frontend; must be harmless when not connected. */
  protected disconnect(): void | Promise<void> {}

  /**
   * xendev_class->frontend_changed, with xen-block's behaviour as the default: Initialised or
   * Connected → (re)connect and go Connected; Closing → Closing; Closed or Unknown → disconnect
   * and go Closed.
   */
  protected frontendChanged(state: XenbusStateValue): void | Promise<void> {
    switch (state) {
      case XenbusState.Initialised:
      case XenbusState.Connected:
        if (this.backendState === XenbusState.Connected) return;
        return andThen(this.disconnect(), () =>
          andThen(this.connect(), () => this.setBackendState(XenbusState.Connected)),
        );
      case XenbusState.Closing:
        this.setBackendState(XenbusState.Closing);
        return;
      case XenbusState.Closed:
      case XenbusState.Unknown:
        return andThen(this.disconnect(), () => this.setBackendState(XenbusState.Closed));
      default:
        return;
    }
  }

  // ---- identity and xenstore areas ----

  get store(): XenStore {
    return this.xenBus.store;
  }
  get backendId(): number {
    return this.xenBus.backendId;
  }
  /** Set once realize has named the device. */
  get name(): string | undefined {
    return this.deviceName;
  }
  get backendPath(): string | undefined {
    return this.backendArea;
  }
  get frontendPath(): string | undefined {
    return this.frontendArea;
  }
  get backendState(): XenbusStateValue {
    return this.sm.backendState;
  }
  get frontendState(): XenbusStateValue {
    return this.sm.frontendState;
  }
  get online(): boolean {
    return this.sm.online;
  }
  /** Resolves when every queued watch event has been handled (hooks may be async). */
  whenIdle(): Promise<void> {
    return this.sm.whenIdle();
  }

  /** xen_device_backend_printf: writes `<backend area>/<key>`; failures are reported, not thrown. */
  writeBackend(key: string, value: string | number): void {
    this.writeKey(this.backendArea, key, value);
  }
  readBackend(key: string): string | undefined {
    return this.readKey(this.backendArea, key);
  }
  /** xen_device_frontend_printf. */
  writeFrontend(key: string, value: string | number): void {
    this.writeKey(this.frontendArea, key, value);
  }
  /** xen_device_frontend_scanf as a string: undefined when missing or unreadable. */
  readFrontend(key: string): string | undefined {
    return this.readKey(this.frontendArea, key);
  }
  /** A frontend key read as `%u`. */
  readFrontendUint(key: string): number | undefined {
    return parseXenUint(this.readFrontend(key));
  }
  /** `ring-ref`, or `ring-ref0..N` with `ring-page-order` ≤ maxOrder; throws XenDeviceError. */
  readRingRefs(maxOrder: number): number[] {
    return readRingRefs((k) => this.readFrontend(k), maxOrder);
  }
  /** `event-channel`; throws XenDeviceError. */
  readEventChannel(): number {
    return readEventChannel((k) => this.readFrontend(k));
  }
  readProtocol(): XenProtocol {
    return readProtocol((k) => this.readFrontend(k));
  }

  /** xen_device_backend_set_state: records and publishes a new backend state. */
  setBackendState(state: XenbusStateValue): void {
    this.sm.setBackendState(state);
  }

  // ---- backend operations (xen_device_*) ----

  /** The device's own grant-table handle (open between realize and unrealize). */
  get grants(): XenGrantTables {
    if (this.grantHandle === undefined) throw new ConfigError(`xen device '${this.id}' is not realized`);
    return this.grantHandle;
  }

  /** xen_device_set_max_grant_refs. */
  setMaxGrantRefs(count: number): void {
    const rc = this.grants.setMaxGrants(count);
    if (rc < 0) throw new XenDeviceError(`xengnttab_set_max_grants failed: ${strerror(rc)}`, rc);
  }

  /** xen_device_map_grant_refs: one contiguous mapping of the frontend's pages. */
  mapGrantRefs(refs: readonly number[], writable: boolean): XenGrantMapping {
    const m = this.grants.mapRefs(this.frontendId, refs, writable);
    if (typeof m === 'number')
      throw new XenDeviceError(`xengnttab_map_domain_grant_refs failed: ${strerror(m)}`, m);
    return m;
  }

  /** xen_device_unmap_grant_refs. */
  unmapGrantRefs(mapping: XenGrantMapping): void {
    const rc = this.grants.unmap(mapping);
    if (rc < 0) throw new XenDeviceError(`xengnttab_unmap failed: ${strerror(rc)}`, rc);
  }

  /** xen_device_copy_grant_refs (hot path: no exception): 0, or the first failing GNTST status. */
  copyGrantRefs(
    direction: GrantCopyDirection,
    segments: readonly XenGrantCopySegment[],
    count?: number,
  ): number {
    return this.grants.copy(direction, segments, count);
  }

  /** xen_device_bind_event_channel: binds the frontend's port, delivering in `ctx` (default: main). */
  bindEventChannel(port: number, handler: XenEventHandler, ctx?: AioContext): XenEventChannelPort {
    const channel = this.xenBus.eventChannels.bindInterdomain(this.frontendId, port);
    if (typeof channel === 'number') {
      throw new XenDeviceError(`xenevtchn_bind_interdomain failed: ${strerror(channel)}`, channel);
    }
    this.ports.add(channel);
    channel.setHandler(ctx ?? this.machine.mainContext, handler);
    return channel;
  }

  /** xen_device_set_event_channel_context: null stops delivery (notifications stay pending). */
  setEventChannelContext(channel: XenEventChannelPort, ctx: AioContext | null): void {
    channel.setHandler(ctx);
  }

  /** xen_device_unbind_event_channel. */
  unbindEventChannel(channel: XenEventChannelPort): void {
    this.ports.delete(channel);
    const rc = channel.unbind();
    if (rc < 0) throw new XenDeviceError(`xenevtchn_unbind failed: ${strerror(rc)}`, rc);
  }

  // ---- lifecycle ----

  /** xen_device_realize. */
  async realize(): Promise<void> {
    try {
      if (!Number.isInteger(this.frontendId) || this.frontendId >= DOMID_FIRST_RESERVED) {
        throw new ConfigError(`xen device '${this.id}': invalid frontend-id`);
      }
      const name = this.getName();
      this.deviceName = name;
      this.grantHandle = this.xenBus.grantTables.open();
      this.createBackendArea(name);
      this.createFrontendArea(name);
      await this.realizeBackend();

      const backend = this.backendArea!;
      this.writeBackend('frontend', this.frontendArea!);
      this.writeBackend('frontend-id', this.frontendId);
      this.writeBackend('hotplug-status', 'connected');
      this.sm.setOnline(true);
      this.sm.setBackendState(XenbusState.InitWait);
      if (!this.frontendExists()) {
        this.writeFrontend('backend', backend);
        this.writeFrontend('backend-id', this.backendId);
        this.sm.setFrontendState(XenbusState.Initialising, true);
      }
      this.sm.start();
    } catch (e) {
      await this.cleanup();
      throw e;
    }
  }

  /** xen_device_unrealize: hooks, leftover channels, both areas and their watches, the grant handle. */
  async unrealize(): Promise<void> {
    await this.cleanup();
  }

  reset(): void {}

  private async cleanup(): Promise<void> {
    this.sm.stop();
    try {
      if (this.deviceName !== undefined) {
        await this.disconnect();
        await this.unrealizeBackend();
      }
    } finally {
      for (const channel of [...this.ports]) {
        this.ports.delete(channel);
        channel.unbind();
      }
      this.watchList.removeAll();
      if (this.frontendArea !== undefined) this.store.rm(this.frontendArea);
      if (this.backendArea !== undefined) this.store.rm(this.backendArea);
      this.xenBus.unregister(this);
      this.grantHandle?.close();
      this.grantHandle = undefined;
      this.frontendArea = undefined;
      this.backendArea = undefined;
      this.deviceName = undefined;
    }
  }

  // xen_device_backend_create: the area readable by the frontend, watched for state and online.
  private createBackendArea(name: string): void {
    const path = `/local/domain/${this.backendId}/backend/${this.backendType}/${this.frontendId}/${name}`;
    this.xenBus.register(this, path);
    this.backendArea = path;
    this.createNode(path, [
      { domid: this.backendId, access: 'none' },
      { domid: this.frontendId, access: 'read' },
    ]);
    this.watchList.add(`${path}/state`, () => this.sm.event('backend'));
    this.watchList.add(`${path}/online`, () => this.sm.event('backend'));
  }

  // xen_device_frontend_create: owned by the frontend, writable by the backend. A legacy
  // toolstack may have created it already.
  private createFrontendArea(name: string): void {
    const path = `/local/domain/${this.frontendId}/device/${this.frontendType}/${name}`;
    this.frontendArea = path;
    if (!this.frontendExists()) {
      this.createNode(path, [
        { domid: this.frontendId, access: 'none' },
        { domid: this.backendId, access: 'both' },
      ]);
    }
    this.watchList.add(`${path}/state`, () => this.sm.event('frontend'));
  }

  private createNode(path: string, perms: { domid: number; access: 'none' | 'read' | 'both' }[]): void {
    let rc = this.store.write(path, '');
    if (rc < 0) throw new ConfigError(`failed to create node '${path}': ${strerror(rc)}`);
    rc = this.store.setPermissions(path, perms);
    if (rc < 0) throw new ConfigError(`failed to set node '${path}' permissions: ${strerror(rc)}`);
  }

  // xen_device_frontend_exists
  private frontendExists(): boolean {
    return parseXenUint(this.readFrontend('state')) !== undefined;
  }

  private readKey(area: string | undefined, key: string): string | undefined {
    if (area === undefined) return undefined;
    const v = this.store.read(`${area}/${key}`);
    return typeof v === 'string' ? v : undefined;
  }

  private writeKey(area: string | undefined, key: string, value: string | number): void {
    if (area === undefined) return;
    const rc = this.store.write(`${area}/${key}`, String(value));
    if (rc < 0) this.report(`failed to write ${area}/${key}`, new XenDeviceError(strerror(rc), rc));
  }

  private report(what: string, e: unknown): void {
    const error = e instanceof Error ? e : new Error(String(e));
    this.lastError = new XenDeviceError(`${what}: ${error.message}`);
    trace('xen-device', 'error', { id: this.id, message: this.lastError.message });
  }
}
