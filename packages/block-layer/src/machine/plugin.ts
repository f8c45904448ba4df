/**
 * blockLayerPlugin: contributes the built-in block drivers and the throttle-group object type,
 * and binds the machine's block layer (BLOCK_LAYER) through which `machine.blockdevAdd()` & co.
 * work. Importing @vmkit/block-layer also types `machine.blockBackend()` as a BlockBackend.
 */
import { BLOCK_LAYER, definePlugin, MACHINE, type Machine, type VmkitPlugin } from '@vmkit/core';
import type { BlockBackend } from '../backend/block-backend.js';
import type { BlockDriverState } from '../node.js';
import { builtinDrivers } from './drivers.js';
import { BlockLayer, type BlockLayerOptions } from './service.js';
import { throttleGroupObjectType } from './throttle-group-type.js';

declare module '@vmkit/core' {
  interface BlockLayerTypes {
    blockBackend: BlockBackend;
    blockNode: BlockDriverState;
  }
}

export const BLOCK_LAYER_PLUGIN_NAME = 'block-layer';

/** A block-layer plugin with options (blockLayerPlugin has the defaults). */
export function createBlockLayerPlugin(options: BlockLayerOptions = {}): VmkitPlugin {
  return definePlugin(BLOCK_LAYER_PLUGIN_NAME, (ctx) => {
    for (const driver of builtinDrivers()) ctx.blockDriver(driver);
    ctx.objectType(throttleGroupObjectType);
    ctx
      .bind<BlockLayer>(BLOCK_LAYER)
      .toDynamicValue((c) => new BlockLayer(c.get<Machine>(MACHINE), options))
      .inSingletonScope()
      .onDeactivation((layer) => layer.dispose());
  });
}

export const blockLayerPlugin: VmkitPlugin = createBlockLayerPlugin();
