/**
 * The `throttle-group` object type (QEMU -object throttle-group,id=...,x-iops-total=...): its id
 * names a group of the machine's block layer that BlockBackends join by name. The `x-*`
 * properties are taken at creation; the object cannot be deleted while a BlockBackend uses it.
 * The `limits` property (a ThrottleLimits object) is not expressible in a property schema: set
 * it with `ThrottleGroupObject.setLimits()` on the instance.
 */
import { ConfigError, defineObjectType, type IntProperty, type Machine } from '@vmkit/core';
import {
  createThrottleGroupObject,
  THROTTLE_GROUP_OBJECT_TYPE,
  type ThrottleGroupObject,
  type ThrottleGroupObjectProps,
  type ThrottleGroupPropertyName,
} from '../throttle/group-object.js';
import { THROTTLE_PARAMS } from '../throttle/limits.js';
import { BlockLayer } from './service.js';

/** The block layer of `machine`; throws when blockLayerPlugin is not loaded. */
export function blockLayerOf(machine: Machine): BlockLayer {
  const service = machine.blockLayer;
  if (!(service instanceof BlockLayer)) throw new ConfigError('no block layer: load blockLayerPlugin');
  return service;
}

// No range in the schema: the object checks values itself, with QEMU's messages.
const properties = Object.fromEntries(
  THROTTLE_PARAMS.map((p) => [
    `x-${p.name}`,
    { kind: 'int', description: `throttle limit ${p.name}` } satisfies IntProperty,
  ]),
) as Record<ThrottleGroupPropertyName, IntProperty>;

export const throttleGroupObjectType = defineObjectType({
  name: THROTTLE_GROUP_OBJECT_TYPE,
  description: 'a group of BlockBackends sharing I/O limits',
  properties,
  create(props, ctx): ThrottleGroupObject {
    const given: ThrottleGroupObjectProps = {};
    for (const [key, value] of Object.entries(props) as [ThrottleGroupPropertyName, number | undefined][]) {
      if (value !== undefined) given[key] = value;
    }
    return createThrottleGroupObject(blockLayerOf(ctx.machine).throttleGroups, ctx.id, given);
  },
  inUse(obj: ThrottleGroupObject): string | undefined {
    return obj.canBeDeleted ? undefined : `throttle group '${obj.id}' has block devices in it`;
  },
  delete(obj: ThrottleGroupObject): void {
    obj.delete();
  },
});
