import { definePlugin, type VmkitPlugin } from '@vmkit/core';
import { BLOCK_LAYER_PLUGIN_NAME } from '@vmkit/block-layer';
import { contributeXenBackendType, XEN_BUS_PLUGIN_NAME } from '@vmkit/xen-bus';
import { qdiskBackendType } from './device/qdisk-backend.js';
import { xenBlockDeviceType } from './device/type.js';

export const XEN_BLOCK_PLUGIN_NAME = 'xen-block';

/**
 * The xen-block plugin: the `xen-block` device type and the `qdisk` backend type (devices a
 * toolstack creates in xenstore). Load it after xenBusPlugin and blockLayerPlugin.
 */
export const xenBlockPlugin: VmkitPlugin = definePlugin(
  XEN_BLOCK_PLUGIN_NAME,
  (ctx) => {
    ctx.deviceType(xenBlockDeviceType);
    contributeXenBackendType(ctx, qdiskBackendType);
  },
  { dependencies: [XEN_BUS_PLUGIN_NAME, BLOCK_LAYER_PLUGIN_NAME] },
);
