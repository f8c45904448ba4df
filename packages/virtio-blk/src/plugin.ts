/** The `virtio-blk` device type on the virtio-mmio bus, and the plugin contributing it. */
import { defineDeviceType, definePlugin, type VmkitPlugin } from '@vmkit/core';
import { BLOCK_LAYER_PLUGIN_NAME } from '@vmkit/block-layer';
import { VIRTIO_MMIO_BUS } from '@vmkit/virtio';
import { resolveConf, virtioBlkProperties } from './conf.js';
import { VirtioBlk } from './virtio-blk.js';

export const virtioBlkDeviceType = defineDeviceType({
  name: 'virtio-blk',
  bus: VIRTIO_MMIO_BUS,
  description: 'virtio block device (QEMU virtio-blk) with an optional IOThread dataplane',
  properties: virtioBlkProperties,
  create: (props, ctx) => new VirtioBlk(resolveConf(`virtio-blk '${ctx.id}'`, props), ctx.machine, ctx.id),
});

/** Contributes `virtio-blk`; needs `virtioPlugin` and `blockLayerPlugin` loaded before it. */
export const virtioBlkPlugin: VmkitPlugin = definePlugin(
  'virtio-blk',
  (ctx) => ctx.deviceType(virtioBlkDeviceType),
  { dependencies: ['virtio', BLOCK_LAYER_PLUGIN_NAME] },
);
