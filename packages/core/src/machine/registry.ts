/**
 * Registries: the contributions of all loaded plugins, collected by multi-injection when the
 * machine has loaded its plugins. A name contributed twice is refused with both plugins named.
 */

import { injectable, multiInject } from 'inversify';
import { ConfigError } from '../errors.js';
import type { BlockDriverContribution } from './block-layer.js';
import type { BusType, DeviceType } from './device.js';
import type { ObjectType } from './objects.js';
import { schemaProblem } from './properties.js';
import { BLOCK_DRIVER, BUS_TYPE, DEVICE_TYPE, OBJECT_TYPE, type Contribution } from './tokens.js';

/** Contributions of one kind by name. */
export class Registry<T extends { readonly name: string }> {
  readonly #entries = new Map<string, Contribution<T>>();

  constructor(
    /** `'device type'`, `'bus type'`, ... as used in messages. */
    readonly kind: string,
    contributions: readonly Contribution<T>[],
  ) {
    for (const contribution of contributions) {
      const { plugin, value } = contribution;
      const name = (value as { name?: unknown }).name;
      if (typeof name !== 'string' || name === '') {
        throw new ConfigError(`plugin '${plugin}' contributes a ${kind} without a name`);
      }
      const previous = this.#entries.get(name);
      if (previous) {
        throw new ConfigError(
          previous.plugin === plugin
            ? `${kind} '${name}' is registered twice by plugin '${plugin}'`
            : `${kind} '${name}' is registered by both plugin '${previous.plugin}' and plugin '${plugin}'`,
        );
      }
      this.#entries.set(name, contribution);
    }
  }

  has(name: string): boolean {
    return this.#entries.has(name);
  }

  get(name: string): T | undefined {
    return this.#entries.get(name)?.value;
  }

  /** The value named `name`; throws ConfigError listing the known names if there is none. */
  require(name: string): T {
    const entry = this.#entries.get(name);
    if (!entry) {
      const known = this.names();
      throw new ConfigError(
        `unknown ${this.kind} '${name}' (known: ${known.length > 0 ? known.join(', ') : 'none'})`,
      );
    }
    return entry.value;
  }

  /** The plugin that contributed `name`. */
  pluginOf(name: string): string | undefined {
    return this.#entries.get(name)?.plugin;
  }

  /** Registered names, sorted. */
  names(): string[] {
    return [...this.#entries.keys()].sort();
  }

  values(): T[] {
    return [...this.#entries.values()].map((e) => e.value);
  }

  get size(): number {
    return this.#entries.size;
  }
}

/** Property names a device type cannot declare: deviceAdd uses them. */
const DEVICE_RESERVED = ['type', 'id', 'bus'] as const;
/** Property names an object type cannot declare. */
const OBJECT_RESERVED = ['type', 'id'] as const;

function checkSchemas(
  kind: string,
  contributions: readonly Contribution<DeviceType | ObjectType>[],
  reserved: readonly string[],
): void {
  for (const { plugin, value } of contributions) {
    const problem = schemaProblem(value.properties ?? {}, reserved);
    if (problem !== undefined)
      throw new ConfigError(`${kind} '${value.name}' (plugin '${plugin}'): ${problem}`);
  }
}

@injectable()
export class DeviceTypeRegistry extends Registry<DeviceType> {
  constructor(@multiInject(DEVICE_TYPE) contributions: Contribution<DeviceType>[]) {
    super('device type', contributions);
    checkSchemas('device type', contributions, DEVICE_RESERVED);
  }
}

@injectable()
export class BusTypeRegistry extends Registry<BusType> {
  constructor(@multiInject(BUS_TYPE) contributions: Contribution<BusType>[]) {
    super('bus type', contributions);
  }
}

@injectable()
export class ObjectTypeRegistry extends Registry<ObjectType> {
  constructor(@multiInject(OBJECT_TYPE) contributions: Contribution<ObjectType>[]) {
    super('object type', contributions);
    checkSchemas('object type', contributions, OBJECT_RESERVED);
  }
}

@injectable()
export class BlockDriverRegistry extends Registry<BlockDriverContribution> {
  constructor(@multiInject(BLOCK_DRIVER) contributions: Contribution<BlockDriverContribution>[]) {
    super('block driver', contributions);
  }
}

/** Checks what device types refer to: their bus type and the object types their links name. */
export function checkTypeReferences(
  devices: DeviceTypeRegistry,
  buses: BusTypeRegistry,
  objects: ObjectTypeRegistry,
): void {
  for (const name of devices.names()) {
    const type = devices.get(name)!;
    const where = `device type '${name}' (plugin '${devices.pluginOf(name)}')`;
    if (type.bus !== null && !buses.has(type.bus)) {
      throw new ConfigError(`${where}: plugs into unknown bus type '${type.bus}'`);
    }
    for (const [prop, spec] of Object.entries(type.properties)) {
      if (spec.kind === 'link' && spec.target !== 'blockdev' && !objects.has(spec.target)) {
        throw new ConfigError(`${where}: property '${prop}' links to unknown object type '${spec.target}'`);
      }
    }
  }
}
