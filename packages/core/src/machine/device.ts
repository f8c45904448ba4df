/**
 * The device model (qdev): device types contributed by plugins, the devices they create, and the
 * buses devices plug into. The machine owns the tree; see machine.ts for the lifecycle.
 */

import type { Machine } from './machine.js';
import type { PropertySchema, PropertyValue, PropertyValues } from './properties.js';

/** A kind of bus (QEMU's TYPE_*_BUS): `sysbus`, `virtio-bus`, `xen-bus`. */
export interface BusType {
  readonly name: string;
  /** How many devices one bus instance accepts (BusClass.max_dev); unlimited when absent. */
  readonly maxDevices?: number;
  readonly description?: string;
}

/**
 * Called by the machine on behalf of the bus owner (QEMU's hotplug handler): `plug` after a child
 * realized (throwing refuses the device, which is then unrealized), `unplug` before it unrealizes.
 */
export interface BusHooks {
  plug?(child: DeviceInfo): void;
  unplug?(child: DeviceInfo): void;
}

/** A bus instance; it owns the devices plugged into it. */
export interface Bus {
  readonly name: string;
  readonly type: BusType;
  /** Id of the device that created the bus; null for buses of the machine (`sysbus`). */
  readonly owner: string | null;
  /** Plugged devices in plug order (including one still realizing). */
  readonly children: readonly DeviceInfo[];
  /** `type.maxDevices`, or Infinity. */
  readonly maxDevices: number;
  readonly full: boolean;
}

export interface CreateBusOptions {
  /** Bus name; defaults to `<device id>.<n>` for device buses (as QEMU names them), `<type>.<n>` otherwise. */
  readonly name?: string;
  readonly hooks?: BusHooks;
}

/** A device instance: what a DeviceType's `create` returns. */
export interface Device {
  /** DeviceClass.realize: connects to the backends; a throw makes deviceAdd fail with no trace. */
  realize(): void | Promise<void>;
  /** DeviceClass.unrealize (hot-unplug): releases everything realize took. */
  unrealize(): void | Promise<void>;
  /** Device reset (system_reset). */
  reset(): void;
}

/** Given to `DeviceType.create`. */
export interface DeviceContext {
  readonly machine: Machine;
  readonly id: string;
  /** The bus the device is plugged into; null for a type whose `bus` is null. */
  readonly bus: Bus | null;
  /** Creates a bus owned by this device (qbus_new); deleted with the device, children first. */
  createBus(type: string, options?: CreateBusOptions): Bus;
}

/** A device type contributed by a plugin. */
export interface DeviceType<S extends PropertySchema = PropertySchema> {
  readonly name: string;
  /** The bus type the device plugs into, or null for a device on no bus. */
  readonly bus: string | null;
  readonly properties: S;
  readonly description?: string;
  /** Builds the device from validated properties; it is realized right after. */
  create(props: PropertyValues<S>, ctx: DeviceContext): Device;
}

/** Identity helper that infers the schema, so `create` sees precisely typed props. */
export function defineDeviceType<const S extends PropertySchema>(type: DeviceType<S>): DeviceType<S> {
  return type;
}

export type DeviceState = 'realizing' | 'realized' | 'unrealizing';

/** What the machine knows of a device. */
export interface DeviceInfo<D extends Device = Device> {
  readonly id: string;
  /** Device type name. */
  readonly type: string;
  readonly device: D;
  readonly bus: Bus | null;
  readonly buses: readonly Bus[];
  readonly properties: Readonly<Record<string, PropertyValue | undefined>>;
  readonly state: DeviceState;
}

/** `deviceAdd` options: QEMU's device_add arguments (`driver` is called `type` here). */
export interface DeviceAddOptions {
  readonly type: string;
  readonly id: string;
  /** Bus instance name; default: the first bus of the type's bus type that is not full. */
  readonly bus?: string;
  readonly [property: string]: unknown;
}
