import type { PluginContext } from '@vmkit/core';
import type { XenBus } from './xen-bus.js';
import type { XenDevice } from './xen-device.js';

/**
 * A kind of backend the bus can create from a toolstack's xenstore entries (QEMU's
 * XenBackendInfo, hw/xen/xen-backend.c): when `backend/<name>/<frontend-id>/<devid>` appears
 * with `online` = 1 and `state` = Initialising, the bus calls `create` with the area's keys.
 */
export interface XenBackendType {
  /** The backend directory name in xenstore (`qdisk`). */
  readonly name: string;
  /**
   * xen_backend_device_create: add the device (usually `bus.machine.deviceAdd(...)` with
   * `bus: bus.name`). `options` are the area's keys other than the generic ones (state, online,
   * frontend, frontend-id, hotplug-status).
   */
  create(bus: XenBus, devid: string, options: Readonly<Record<string, string>>): void | Promise<void>;
  /** Removes a device the bus found inactive; default: `machine.deviceDel(device.id)`. */
  destroy?(bus: XenBus, device: XenDevice): void | Promise<void>;
}

/** Multi-bound token of XenBackendType contributions. */
export const XEN_BACKEND_TYPE: unique symbol = Symbol.for('vmkit:xen:backend-type');

/** Contributes a backend type from a plugin's register function. */
export function contributeXenBackendType(ctx: PluginContext, type: XenBackendType): void {
  ctx.bind<XenBackendType>(XEN_BACKEND_TYPE).toConstantValue(type);
}
