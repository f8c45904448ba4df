/**
 * The machine's device tree: buses own devices, devices own the buses they create. Adding a device
 * validates everything before creating it and undoes everything if creation or realize fails;
 * deleting one deletes the devices on its buses first (qdev unplug), then unrealizes it.
 */

import { ConfigError } from '../errors.js';
import type {
  Bus,
  BusHooks,
  BusType,
  CreateBusOptions,
  Device,
  DeviceAddOptions,
  DeviceContext,
  DeviceInfo,
  DeviceState,
  DeviceType,
} from './device.js';
import type { EntityEvent } from './events.js';
import type { Machine } from './machine.js';
import { formatValue, validateProperties, type LinkResolver, type PropertyValue } from './properties.js';
import type { BusTypeRegistry, DeviceTypeRegistry } from './registry.js';

/** QEMU's id_wellformed: a letter, then letters, digits, '-', '.', '_'. */
const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;
export const ID_RULE = "ids start with a letter and contain only letters, digits, '-', '.' and '_'";

export function isWellFormedId(id: unknown): id is string {
  return typeof id === 'string' && ID_RE.test(id);
}

class BusInstance implements Bus {
  readonly #children: DeviceRecord[] = [];

  constructor(
    readonly name: string,
    readonly type: BusType,
    readonly owner: string | null,
    readonly hooks: BusHooks,
  ) {}

  get children(): readonly DeviceRecord[] {
    return this.#children;
  }

  get maxDevices(): number {
    return this.type.maxDevices ?? Infinity;
  }

  get full(): boolean {
    return this.#children.length >= this.maxDevices;
  }

  attach(child: DeviceRecord): void {
    this.#children.push(child);
  }

  detach(child: DeviceRecord): void {
    const i = this.#children.indexOf(child);
    if (i >= 0) this.#children.splice(i, 1);
  }
}

class DeviceRecord implements DeviceInfo {
  state: DeviceState = 'realizing';
  readonly buses: BusInstance[];

  constructor(
    readonly id: string,
    readonly deviceType: DeviceType,
    readonly device: Device,
    readonly bus: BusInstance | null,
    buses: BusInstance[],
    readonly properties: Readonly<Record<string, PropertyValue | undefined>>,
  ) {
    this.buses = buses;
  }

  get type(): string {
    return this.deviceType.name;
  }
}

export interface DeviceTreeEvents {
  added(info: DeviceInfo): void;
  deleted(event: EntityEvent): void;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export class DeviceTree {
  /** Insertion order is realization order (reset and destroy rely on it). */
  readonly #devices = new Map<string, DeviceRecord>();
  readonly #buses = new Map<string, BusInstance>();

  constructor(
    private readonly machine: Machine,
    private readonly deviceTypes: DeviceTypeRegistry,
    private readonly busTypes: BusTypeRegistry,
    private readonly links: LinkResolver,
    private readonly events: DeviceTreeEvents,
  ) {}

  get(id: string): DeviceInfo | undefined {
    return this.#devices.get(id);
  }

  list(): DeviceInfo[] {
    return [...this.#devices.values()];
  }

  bus(name: string): Bus | undefined {
    return this.#buses.get(name);
  }

  buses(): Bus[] {
    return [...this.#buses.values()];
  }

  /** Ids of devices whose link properties name object `objectId`. */
  usersOfObject(objectId: string): string[] {
    const users: string[] = [];
    for (const record of this.#devices.values()) {
      for (const [name, spec] of Object.entries(record.deviceType.properties)) {
        if (spec.kind === 'link' && spec.target !== 'blockdev' && record.properties[name] === objectId) {
          users.push(record.id);
          break;
        }
      }
    }
    return users;
  }

  /** Creates a bus owned by device `owner` (null: by the machine). */
  createBus(typeName: string, options: CreateBusOptions, owner: string | null): BusInstance {
    const type = this.busTypes.require(typeName);
    let name = options.name;
    if (name === undefined) {
      const prefix = owner ?? typeName;
      let n = 0;
      while (this.#buses.has(`${prefix}.${n}`)) n++;
      name = `${prefix}.${n}`;
    } else if (typeof name !== 'string' || name === '') {
      throw new ConfigError(`invalid bus name ${JSON.stringify(name)}`);
    }
    if (this.#buses.has(name)) throw new ConfigError(`bus '${name}' already exists`);
    const bus = new BusInstance(name, type, owner, options.hooks ?? {});
    this.#buses.set(name, bus);
    return bus;
  }

  async add(options: DeviceAddOptions): Promise<Device> {
    if (typeof options !== 'object' || options === null)
      throw new ConfigError('deviceAdd needs an options object');
    const { type: typeName, id, bus: busName, ...input } = options;
    if (typeof typeName !== 'string') throw new ConfigError(`deviceAdd: 'type' must be a device type name`);
    const type = this.deviceTypes.require(typeName);
    if (id === undefined) throw new ConfigError(`${typeName}: a device id is required`);
    if (!isWellFormedId(id))
      throw new ConfigError(`${typeName}: invalid device id ${formatValue(id)} (${ID_RULE})`);
    const label = `${typeName} '${id}'`;
    if (this.#devices.has(id)) throw new ConfigError(`${label}: device id '${id}' is already in use`);
    const props = validateProperties(label, type.properties, input, this.links);
    const bus = this.#resolveBus(type, busName, label);

    // Nothing is created before this point; from here on, failures undo what was done.
    const ownBuses: BusInstance[] = [];
    const ctx: DeviceContext = {
      machine: this.machine,
      id,
      bus,
      createBus: (busType, busOptions = {}) => {
        const created = this.createBus(busType, busOptions, id);
        ownBuses.push(created);
        return created;
      },
    };
    let device: Device;
    try {
      device = type.create(props, ctx);
    } catch (e) {
      this.#dropBuses(ownBuses);
      throw e;
    }
    const record = new DeviceRecord(id, type, device, bus, ownBuses, props);
    this.#devices.set(id, record);
    bus?.attach(record);
    try {
      await device.realize();
    } catch (e) {
      await this.#undo(record);
      throw e;
    }
    try {
      bus?.hooks.plug?.(record);
    } catch (e) {
      try {
        await device.unrealize();
      } finally {
        await this.#undo(record);
      }
      throw e;
    }
    record.state = 'realized';
    this.events.added(record);
    return device;
  }

  async delete(id: string): Promise<void> {
    const record = this.#devices.get(id);
    if (!record) throw new ConfigError(`no device '${id}'`);
    if (record.state === 'realizing') throw new ConfigError(`device '${id}' is still being realized`);
    if (record.state === 'unrealizing') throw new ConfigError(`device '${id}' is already being deleted`);
    record.state = 'unrealizing';
    try {
      await this.#deleteChildren(record);
      record.bus?.hooks.unplug?.(record);
      await record.device.unrealize();
    } finally {
      this.#forget(record);
    }
    this.events.deleted({ id, type: record.type });
  }

  /** Deletes every device, most recently added first (children go with their parents). */
  async deleteAll(): Promise<void> {
    for (const record of [...this.#devices.values()].reverse()) {
      if (this.#devices.get(record.id) === record && record.state === 'realized')
        await this.delete(record.id);
    }
  }

  /** Resets realized devices in realization order (qemu_devices_reset). */
  reset(): void {
    for (const record of this.#devices.values()) {
      if (record.state === 'realized') record.device.reset();
    }
  }

  #resolveBus(type: DeviceType, busName: unknown, label: string): BusInstance | null {
    if (type.bus === null) {
      if (busName !== undefined)
        throw new ConfigError(`${label}: device type '${type.name}' does not plug into a bus`);
      return null;
    }
    if (busName !== undefined) {
      const bus = typeof busName === 'string' ? this.#buses.get(busName) : undefined;
      if (!bus) throw new ConfigError(`${label}: no bus ${formatValue(busName)}`);
      if (bus.type.name !== type.bus) {
        throw new ConfigError(`${label}: bus '${bus.name}' is a '${bus.type.name}' bus, not '${type.bus}'`);
      }
      if (bus.full)
        throw new ConfigError(`${label}: bus '${bus.name}' is full (${plural(bus.maxDevices, 'device')})`);
      return bus;
    }
    // qbus_find_recursive: the first bus of the type with room; a full one only to report it.
    let firstFull: BusInstance | undefined;
    for (const bus of this.#buses.values()) {
      if (bus.type.name !== type.bus) continue;
      if (!bus.full) return bus;
      firstFull ??= bus;
    }
    if (firstFull) {
      throw new ConfigError(
        `${label}: bus '${firstFull.name}' is full (${plural(firstFull.maxDevices, 'device')})`,
      );
    }
    throw new ConfigError(`${label}: no '${type.bus}' bus to plug into`);
  }

  async #deleteChildren(record: DeviceRecord): Promise<void> {
    for (const bus of [...record.buses].reverse()) {
      for (const child of [...bus.children].reverse()) {
        if (child.state === 'realized') await this.delete(child.id);
      }
    }
  }

  /** Rolls back a device whose realize failed: devices it plugged into its own buses go first. */
  async #undo(record: DeviceRecord): Promise<void> {
    try {
      await this.#deleteChildren(record);
    } finally {
      this.#forget(record);
    }
  }

  #forget(record: DeviceRecord): void {
    record.bus?.detach(record);
    this.#dropBuses(record.buses);
    if (this.#devices.get(record.id) === record) this.#devices.delete(record.id);
  }

  #dropBuses(buses: readonly BusInstance[]): void {
    for (const bus of buses) {
      if (this.#buses.get(bus.name) === bus) this.#buses.delete(bus.name);
    }
  }
}
