import { ConfigError } from '@vmkit/core';
import { copyThrottleConfig } from './config.js';
import { ThrottleGroup, type ThrottleGroupRegistry } from './group.js';
import {
  applyThrottleLimits,
  getThrottleParam,
  setThrottleParam,
  THROTTLE_BURST_LENGTH_MAX,
  THROTTLE_PARAMS,
  throttleConfigToLimits,
  type ThrottleLimitName,
  type ThrottleLimits,
  type ThrottleParamInfo,
} from './limits.js';
import { validateThrottleConfig } from './validate.js';

/** QOM type name of the object. */
export const THROTTLE_GROUP_OBJECT_TYPE = 'throttle-group';

/** The individual properties of a throttle-group object: the ThrottleLimits names with `x-`. */
export type ThrottleGroupPropertyName = `x-${ThrottleLimitName}`;

/** Property names in QEMU's order, then `limits`. */
export const THROTTLE_GROUP_PROPERTY_NAMES: readonly (ThrottleGroupPropertyName | 'limits')[] = [
  ...THROTTLE_PARAMS.map((p): ThrottleGroupPropertyName => `x-${p.name}`),
  'limits',
];

/** Properties accepted by createThrottleGroupObject (object-add without qom-type and id). */
export type ThrottleGroupObjectProps = { [K in ThrottleGroupPropertyName]?: number } & {
  limits?: ThrottleLimits;
};

const PROPERTY_INFO = new Map<string, ThrottleParamInfo>(THROTTLE_PARAMS.map((p) => [`x-${p.name}`, p]));

/** QEMU's texts for the throttle-group object. */
export const ThrottleGroupObjectError = {
  setAfterInit: 'Property cannot be set after initialization',
  negative: 'Property values cannot be negative',
} as const;

/**
 * The user-creatable `throttle-group` object (QOM part of block/throttle-groups.c). Its id names
 * the group; the object holds one reference to the group, each member another, so it can be
 * deleted only while no BlockBackend uses the group.
 */
export class ThrottleGroupObject {
  /** The group; listed in the registry from completion until deletion. */
  readonly group: ThrottleGroup;
  private deleted = false;

  constructor(
    readonly registry: ThrottleGroupRegistry,
    readonly id: string,
  ) {
    this.group = new ThrottleGroup(registry);
  }

  get isInitialized(): boolean {
    return this.group.isInitialized;
  }

  /**
   * throttle_group_set: one `x-*` property, only before completion; the value must be a
   * non-negative integer, a burst length at most UINT_MAX.
   */
  setProperty(name: ThrottleGroupPropertyName, value: number): void {
    const info = this.propertyInfo(name);
    if (this.group.isInitialized) throw new ConfigError(ThrottleGroupObjectError.setAfterInit);
    if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
      throw new ConfigError(`Invalid parameter type for '${name}', expected: integer`);
    }
    if (value < 0) throw new ConfigError(ThrottleGroupObjectError.negative);
    if (info.category === 'burstLength' && value > THROTTLE_BURST_LENGTH_MAX) {
      // QEMU's text verbatim, including the missing space in "therange".
      throw new ConfigError(`${name} value must be in therange [0, ${THROTTLE_BURST_LENGTH_MAX}]`);
    }
    setThrottleParam(this.group.ts.cfg, info, value);
  }

  /** throttle_group_get. */
  getProperty(name: ThrottleGroupPropertyName): number {
    return getThrottleParam(this.group.ts.cfg, this.propertyInfo(name));
  }

  /**
   * throttle_group_set_limits: applies the members given (allowed at any time) and installs the
   * result with zeroed levels; members are not restarted. QEMU checks validity only at
   * completion and accepts an invalid set afterwards; vmkit refuses it with the
   * throttle_is_valid text, because the scheduling arithmetic relies on a valid configuration.
   */
  setLimits(limits: ThrottleLimits): void {
    const cfg = this.group.getConfig();
    const error = applyThrottleLimits(limits, cfg);
    if (error !== undefined) throw new ConfigError(error);
    if (this.group.isInitialized) {
      const invalid = validateThrottleConfig(cfg);
      if (invalid !== undefined) throw new ConfigError(invalid);
      this.group.configure(cfg);
    } else {
      // Before completion the state only stages values (completion validates and configures).
      this.group.ts.cfg = copyThrottleConfig(cfg);
    }
  }

  /** throttle_group_get_limits: every member present. */
  getLimits(): Required<ThrottleLimits> {
    return throttleConfigToLimits(this.group.ts.cfg);
  }

  /**
   * user_creatable_complete (throttle_group_obj_complete): names the group after the id, refuses
   * a duplicate name ("A group with this name already exists") or an invalid configuration
   * (throttle_is_valid's text), then lists the group in the registry.
   */
  complete(): void {
    this.group.setName(this.id);
    this.registry.complete(this.group);
  }

  /** throttle_group_can_be_deleted: only the object's own reference is left (no members). */
  get canBeDeleted(): boolean {
    return !this.deleted && this.group.refcount === 1;
  }

  /** object-del: refused while BlockBackends use the group. */
  delete(): void {
    if (this.deleted) return;
    if (this.group.refcount !== 1) throw new ConfigError(`object '${this.id}' is in use, can not be deleted`);
    this.deleted = true;
    this.group.unref();
  }

  private propertyInfo(name: string): ThrottleParamInfo {
    const info = PROPERTY_INFO.get(name);
    if (info === undefined)
      throw new ConfigError(`Property '${THROTTLE_GROUP_OBJECT_TYPE}.${name}' not found`);
    return info;
  }
}

/**
 * object-add of a throttle-group: creates the object, sets `props` in their key order, then
 * completes it. On any error the half-built object is dropped and the ConfigError propagates.
 * This is the function the machine's object-type registration calls.
 */
export function createThrottleGroupObject(
  registry: ThrottleGroupRegistry,
  id: string,
  props: ThrottleGroupObjectProps = {},
): ThrottleGroupObject {
  const obj = new ThrottleGroupObject(registry, id);
  try {
    for (const [key, value] of Object.entries(props) as [string, unknown][]) {
      if (value === undefined) continue;
      if (key === 'limits') {
        if (typeof value !== 'object' || value === null) {
          throw new ConfigError(`Invalid parameter type for 'limits', expected: object`);
        }
        obj.setLimits(value);
      } else {
        obj.setProperty(key as ThrottleGroupPropertyName, value as number);
      }
    }
    obj.complete();
  } catch (e) {
    obj.delete();
    throw e;
  }
  return obj;
}
