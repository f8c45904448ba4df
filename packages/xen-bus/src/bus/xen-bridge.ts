import { defineDeviceType, type BusType, type Device } from '@vmkit/core';
import { DOMID_FIRST_RESERVED } from '../constants.js';
import { XenBus } from './xen-bus.js';

/** QEMU's TYPE_XEN_BUS. */
export const xenBusType: BusType = { name: 'xen-bus', description: 'Xen PV backends (xenstore-enumerated)' };

/** The device behind a xen-bus: starts the bus on realize, stops it on unrealize. */
export class XenBridge implements Device {
  constructor(readonly xenBus: XenBus) {}
  realize(): void {
    this.xenBus.start();
  }
  unrealize(): void {
    this.xenBus.stop();
  }
  reset(): void {}
}

/**
 * `xen-bridge` (QEMU's TYPE_XEN_BRIDGE, a sysbus device): creates the xen-bus `<id>.0` serving
 * the guest `frontend-id`. Its devices are deleted before it.
 */
export const xenBridgeType = defineDeviceType({
  name: 'xen-bridge',
  bus: 'sysbus',
  description: 'the bridge that owns a xen-bus',
  properties: {
    'frontend-id': {
      kind: 'int',
      min: 0,
      max: DOMID_FIRST_RESERVED - 1,
      required: true,
      description: 'the guest domain the bus serves (QEMU -xen-domid)',
    },
  },
  create(props, ctx): XenBridge {
    const bus = ctx.createBus('xen-bus');
    return new XenBridge(XenBus.attach(ctx.machine, bus, { frontendId: props['frontend-id'] }));
  },
});
