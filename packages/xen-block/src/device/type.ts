import { defineDeviceType } from '@vmkit/core';
import { xenBlockProperties } from './properties.js';
import { XenBlockDevice } from './xen-block-device.js';

/** `-device xen-block,vdev=xvda,drive=disk0[,iothread=io0]`: plugs into a xen-bus. */
export const xenBlockDeviceType = defineDeviceType({
  name: 'xen-block',
  bus: 'xen-bus',
  description: 'Xen PV block backend (qdisk) serving a vbd frontend',
  properties: xenBlockProperties,
  create: (props, ctx) => new XenBlockDevice(ctx, props),
});
