/**
 * The Machine: one inversify container with the plugins loaded into it, the registries of what they
 * contribute, user-created objects, the device tree, the run state, and the delegation of block
 * commands to the block layer. Configured in QEMU's vocabulary (object-add, device_add, ...).
 */

import { Container, type ServiceIdentifier } from 'inversify';
import { ConfigError } from '../errors.js';
import { AioContext, HostClock, IOThread, type Clock } from '../loop/index.js';
import { GuestMemory } from '../memory/index.js';
import type { BlockBackendOf, BlockdevOptions, BlockLayerService, BlockNodeOf } from './block-layer.js';
import { corePlugin } from './core-plugin.js';
import type { Bus, CreateBusOptions, Device, DeviceAddOptions, DeviceInfo } from './device.js';
import { DeviceTree, ID_RULE, isWellFormedId } from './device-tree.js';
import { TypedEmitter, type Disposer, type MachineEvents } from './events.js';
import type { ObjectAddOptions, ObjectInfo, ObjectType } from './objects.js';
import { loadPlugins, type VmkitPlugin } from './plugin.js';
import { formatValue, validateProperties, type LinkResolver } from './properties.js';
import {
  BlockDriverRegistry,
  BusTypeRegistry,
  checkTypeReferences,
  DeviceTypeRegistry,
  ObjectTypeRegistry,
} from './registry.js';
import { RunStateTracker, type RunState, type RunStateHandler, type StopReason } from './run-state.js';
import { BLOCK_LAYER, MACHINE } from './tokens.js';

export interface MachineOptions {
  /** Loaded in order after the built-in 'core' plugin; a plugin's dependencies must come before it. */
  readonly plugins?: readonly VmkitPlugin[];
  /** The machine's clock (default: a HostClock); tests pass a VirtualClock. */
  readonly clock?: Clock;
  readonly name?: string;
  /** The guest's physical memory (default: an empty GuestMemory; map regions with `addRegion`). */
  readonly memory?: GuestMemory;
}

export interface MachineRegistries {
  readonly deviceTypes: DeviceTypeRegistry;
  readonly busTypes: BusTypeRegistry;
  readonly objectTypes: ObjectTypeRegistry;
  readonly blockDrivers: BlockDriverRegistry;
}

interface ObjectEntry extends ObjectInfo {
  readonly objectType: ObjectType;
}

export class Machine {
  readonly name: string;
  readonly container: Container;
  readonly clock: Clock;
  /** The machine's main loop context (on `clock`); iothreads are separate contexts on the same clock. */
  readonly mainContext: AioContext;
  /** Guest-physical memory that devices' rings and buffers live in. */
  readonly memory: GuestMemory;
  readonly events = new TypedEmitter<MachineEvents>();

  #registries!: MachineRegistries;
  #devices!: DeviceTree;
  #plugins: readonly string[] = [];
  readonly #objects = new Map<string, ObjectEntry>();
  readonly #runState = new RunStateTracker();
  #blockLayer: BlockLayerService | undefined;
  #destroyed = false;

  private constructor(container: Container, clock: Clock, name: string, memory: GuestMemory) {
    this.container = container;
    this.clock = clock;
    this.name = name;
    this.memory = memory;
    this.mainContext = new AioContext({ name: 'main', clock });
  }

  /**
   * Builds a machine: binds it under MACHINE (and the Machine class), loads the plugins, collects
   * their contributions into registries (refusing duplicates) and creates the system bus 'sysbus'.
   * Plugin services are singletons per machine unless their binding says otherwise.
   */
  static async create(options: MachineOptions = {}): Promise<Machine> {
    const container = new Container({ defaultScope: 'Singleton' });
    const machine = new Machine(
      container,
      options.clock ?? new HostClock(),
      options.name ?? 'machine',
      options.memory ?? new GuestMemory(),
    );
    container.bind(MACHINE).toConstantValue(machine);
    // By class too, so services can take `machine: Machine` by type (the private constructor hides
    // Machine from inversify's Newable typing, not from its metadata lookup).
    container.bind(Machine as unknown as ServiceIdentifier<Machine>).toConstantValue(machine);
    for (const registry of [DeviceTypeRegistry, BusTypeRegistry, ObjectTypeRegistry, BlockDriverRegistry]) {
      container.bind(registry).toSelf().inSingletonScope();
    }
    try {
      machine.#plugins = Object.freeze(await loadPlugins(container, corePlugin, options.plugins ?? []));
      const registries: MachineRegistries = {
        deviceTypes: container.get(DeviceTypeRegistry),
        busTypes: container.get(BusTypeRegistry),
        objectTypes: container.get(ObjectTypeRegistry),
        blockDrivers: container.get(BlockDriverRegistry),
      };
      checkTypeReferences(registries.deviceTypes, registries.busTypes, registries.objectTypes);
      machine.#registries = Object.freeze(registries);
    } catch (e) {
      machine.#destroyed = true;
      await container.unbindAllAsync().catch(() => undefined);
      throw e;
    }
    const links: LinkResolver = {
      objectType: (id) => machine.#objects.get(id)?.type,
      hasBlockdev: (id) => machine.blockLayer?.hasBlockdev(id),
    };
    machine.#devices = new DeviceTree(
      machine,
      machine.#registries.deviceTypes,
      machine.#registries.busTypes,
      links,
      {
        added: (info) => machine.events.emit('device-added', info),
        deleted: (event) => machine.events.emit('device-deleted', event),
      },
    );
    machine.#devices.createBus('sysbus', { name: 'sysbus' }, null);
    return machine;
  }

  // ---- plugins and registries ----

  /** Loaded plugin names in load order, starting with the built-in 'core'. */
  plugins(): readonly string[] {
    return this.#plugins;
  }

  get registries(): MachineRegistries {
    return this.#registries;
  }

  deviceTypes(): string[] {
    return this.#registries.deviceTypes.names();
  }

  busTypes(): string[] {
    return this.#registries.busTypes.names();
  }

  objectTypes(): string[] {
    return this.#registries.objectTypes.names();
  }

  blockDrivers(): string[] {
    return this.#registries.blockDrivers.names();
  }

  // ---- objects ----

  /** object-add: validates the properties, then creates the object. Returns the instance. */
  objectAdd<T = unknown>(options: ObjectAddOptions): T {
    this.#checkAlive();
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('objectAdd needs an options object');
    const { type: typeName, id, ...input } = options;
    if (typeof typeName !== 'string') throw new ConfigError(`objectAdd: 'type' must be an object type name`);
    const type = this.#registries.objectTypes.require(typeName);
    if (id === undefined) throw new ConfigError(`${typeName}: an object id is required`);
    if (!isWellFormedId(id))
      throw new ConfigError(`${typeName}: invalid object id ${formatValue(id)} (${ID_RULE})`);
    const label = `${typeName} '${id}'`;
    if (this.#objects.has(id)) throw new ConfigError(`${label}: object id '${id}' is already in use`);
    const properties = validateProperties(label, type.properties, input, {
      objectType: (other) => this.#objects.get(other)?.type,
      hasBlockdev: (other) => this.blockLayer?.hasBlockdev(other),
    });
    const instance = type.create(properties, { machine: this, id });
    this.#objects.set(id, Object.freeze({ id, type: typeName, instance, properties, objectType: type }));
    this.events.emit('object-added', { id, type: typeName });
    return instance as T;
  }

  /** object-del: refused while a device links to the object or its type reports it in use. */
  objectDel(id: string): void {
    this.#checkAlive();
    const entry = this.#requireObject(id);
    const users = this.#devices.usersOfObject(id);
    if (users.length > 0) {
      throw new ConfigError(`object '${id}' is in use by device ${users.map((u) => `'${u}'`).join(', ')}`);
    }
    const reason = entry.objectType.inUse?.(entry.instance);
    if (reason !== undefined) throw new ConfigError(`object '${id}' is in use: ${reason}`);
    this.#deleteObject(entry);
  }

  /** The instance of object `id`; throws ConfigError if there is none. */
  object<T = unknown>(id: string): T {
    return this.#requireObject(id).instance as T;
  }

  hasObject(id: string): boolean {
    return this.#objects.has(id);
  }

  objects(): ObjectInfo[] {
    return [...this.#objects.values()].map(({ id, type, instance, properties }) => ({
      id,
      type,
      instance,
      properties,
    }));
  }

  /** The IOThread created by `objectAdd({ type: 'iothread', id })`. */
  iothread(id: string): IOThread {
    const entry = this.#objects.get(id);
    if (!entry) throw new ConfigError(`no iothread '${id}'`);
    if (!(entry.instance instanceof IOThread)) {
      throw new ConfigError(`object '${id}' has type '${entry.type}', not 'iothread'`);
    }
    return entry.instance;
  }

  #requireObject(id: string): ObjectEntry {
    const entry = this.#objects.get(id);
    if (!entry) throw new ConfigError(`no object '${id}'`);
    return entry;
  }

  #deleteObject(entry: ObjectEntry): void {
    this.#objects.delete(entry.id);
    entry.objectType.delete?.(entry.instance);
    this.events.emit('object-deleted', { id: entry.id, type: entry.type });
  }

  // ---- devices and buses ----

  /**
   * device_add: checks the type, the id, every property (links included) and the bus before creating
   * anything, then creates and realizes the device. If creation or realize throws, the machine is
   * left as it was (id and bus slot free, buses the device created removed).
   */
  async deviceAdd<D extends Device = Device>(options: DeviceAddOptions): Promise<D> {
    this.#checkAlive();
    return (await this.#devices.add(options)) as D;
  }

  /** device_del: deletes the devices on the device's buses, unrealizes it, frees its id. */
  async deviceDel(id: string): Promise<void> {
    this.#checkAlive();
    await this.#devices.delete(id);
  }

  /** The device `id` (as its type's `create` returned it); throws ConfigError if there is none. */
  device<D extends Device = Device>(id: string): D {
    return this.deviceInfo(id).device as D;
  }

  deviceInfo(id: string): DeviceInfo {
    const info = this.#devices.get(id);
    if (!info) throw new ConfigError(`no device '${id}'`);
    return info;
  }

  hasDevice(id: string): boolean {
    return this.#devices.get(id) !== undefined;
  }

  /** Devices in the order they were added. */
  devices(): DeviceInfo[] {
    return this.#devices.list();
  }

  /** The bus named `name` ('sysbus', or one a device created); throws ConfigError if there is none. */
  bus(name: string): Bus {
    const bus = this.#devices.bus(name);
    if (!bus) throw new ConfigError(`no bus '${name}'`);
    return bus;
  }

  buses(): Bus[] {
    return this.#devices.buses();
  }

  /** Creates a bus owned by the machine (like the xen-bus a Xen machine creates). */
  createBus(type: string, options: CreateBusOptions = {}): Bus {
    this.#checkAlive();
    return this.#devices.createBus(type, options, null);
  }

  /** system_reset: resets every realized device in the order they were added. */
  reset(): void {
    this.#checkAlive();
    this.#devices.reset();
    this.events.emit('reset');
  }

  // ---- run state ----

  get runState(): RunState {
    return this.#runState.state;
  }

  /** Why the machine is paused ('user', 'io-error'); undefined while running. */
  get stopReason(): StopReason | undefined {
    return this.#runState.reason;
  }

  /**
   * Stops the machine (do_vm_stop): run-state handlers in reverse registration order, the 'stop'
   * event, then the block layer drains and flushes. A no-op when already paused.
   */
  async stop(reason: StopReason = 'user'): Promise<void> {
    this.#checkAlive();
    if (!this.#runState.transition(false, reason)) return;
    this.events.emit('stop', reason);
    await this.blockLayer?.vmStopped?.();
  }

  /** Resumes the machine (vm_start): the 'resume' event, then handlers in registration order. */
  cont(): void {
    this.#checkAlive();
    if (this.#runState.state === 'running') return;
    this.events.emit('resume');
    this.#runState.transition(true, undefined);
  }

  /** qemu_add_vm_change_state_handler; returns a disposer. */
  onRunStateChange(handler: RunStateHandler): Disposer {
    return this.#runState.add(handler);
  }

  // ---- block layer ----

  /** The service bound under BLOCK_LAYER, if a block-layer plugin is loaded. */
  get blockLayer(): BlockLayerService | undefined {
    if (this.#blockLayer === undefined && !this.#destroyed) {
      this.#blockLayer = this.container.get<BlockLayerService>(BLOCK_LAYER, { optional: true });
    }
    return this.#blockLayer;
  }

  async blockdevAdd(options: BlockdevOptions): Promise<BlockNodeOf> {
    return this.#requireBlockLayer().blockdevAdd(options);
  }

  async blockdevDel(nodeName: string): Promise<void> {
    return this.#requireBlockLayer().blockdevDel(nodeName);
  }

  async blockdevReopen(options: BlockdevOptions | readonly BlockdevOptions[]): Promise<void> {
    return this.#requireBlockLayer().blockdevReopen(options);
  }

  blockBackend(id: string): BlockBackendOf {
    return this.#requireBlockLayer().blockBackend(id);
  }

  #requireBlockLayer(): BlockLayerService {
    this.#checkAlive();
    const service = this.blockLayer;
    if (!service) throw new ConfigError('no block layer: load blockLayerPlugin');
    return service;
  }

  // ---- teardown ----

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /**
   * Deletes every device (last added first), unbinds the container so plugin services run their
   * deactivation (@preDestroy: the block layer closes its nodes), then deletes the objects.
   * Further calls are no-ops; other methods throw afterwards.
   */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    await this.#devices.deleteAll();
    this.#blockLayer = undefined;
    await this.container.unbindAllAsync();
    for (const entry of [...this.#objects.values()].reverse()) this.#deleteObject(entry);
  }

  #checkAlive(): void {
    if (this.#destroyed) throw new ConfigError(`machine '${this.name}' is destroyed`);
  }
}
