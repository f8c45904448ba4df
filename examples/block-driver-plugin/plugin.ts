/**
 * The plugin that contributes `http-ro`. Loading it after `blockLayerPlugin` makes the driver
 * usable in `blockdevAdd` like a built-in one: `{ driver: 'http-ro', url }`.
 */
import { definePlugin, type VmkitPlugin } from '@vmkit/core';
import { BLOCK_LAYER_PLUGIN_NAME } from '@vmkit/block-layer';
import { httpRoDriver } from './http-ro-driver.js';

export const httpBlockPlugin: VmkitPlugin = definePlugin(
  'http-block',
  (ctx) => ctx.blockDriver(httpRoDriver),
  {
    dependencies: [BLOCK_LAYER_PLUGIN_NAME],
  },
);
