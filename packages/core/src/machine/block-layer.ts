/**
 * What core knows of the block layer: the service a block-layer plugin binds under `BLOCK_LAYER`,
 * through which `machine.blockdevAdd()` & co. delegate, and the minimal shape of a block driver
 * contribution. The implementation lives in @vmkit/block-layer.
 */

/**
 * Filled in by the block layer through declaration merging, so that `machine.blockBackend()` and
 * `machine.blockdevAdd()` return its real classes once it is imported:
 * ```ts
 * declare module '@vmkit/core' {
 *   interface BlockLayerTypes { blockBackend: BlockBackend; blockNode: BlockDriverState }
 * }
 * ```
 * Without it both are `unknown`.
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type
export interface BlockLayerTypes {}

/** The block layer's BlockBackend class, or unknown when the block layer's types are not loaded. */
export type BlockBackendOf = BlockLayerTypes extends { blockBackend: infer B } ? B : unknown;
/** The block layer's node (BlockDriverState) class, or unknown. */
export type BlockNodeOf = BlockLayerTypes extends { blockNode: infer N } ? N : unknown;

/** blockdev-add options in QEMU's vocabulary (camelCase keys); the driver defines the rest. */
export interface BlockdevOptions {
  readonly driver: string;
  readonly nodeName?: string;
  readonly [option: string]: unknown;
}

/** A block driver as far as core is concerned; @vmkit/block-layer's BlockDriver extends it. */
export interface BlockDriverContribution {
  readonly name: string;
}

/** Implemented by the block-layer plugin and bound under `BLOCK_LAYER`. */
export interface BlockLayerService {
  /** QMP blockdev-add: opens a node (and its children as the options say). */
  blockdevAdd(options: BlockdevOptions): Promise<BlockNodeOf>;
  /** QMP blockdev-del: removes a node that nothing uses any more. */
  blockdevDel(nodeName: string): Promise<void>;
  /** QMP blockdev-reopen: changes the options of one or more nodes atomically. */
  blockdevReopen(options: BlockdevOptions | readonly BlockdevOptions[]): Promise<void>;
  /** Whether `id` names a node or a BlockBackend (what a device's `drive` property may name). */
  hasBlockdev(id: string): boolean;
  /** The BlockBackend named `id`, or the one created for node `id`; throws ConfigError if none. */
  blockBackend(id: string): BlockBackendOf;
  /**
   * Called by `machine.stop()` after the stop handlers: QEMU's do_vm_stop drains and flushes all
   * block devices here.
   */
  vmStopped?(): Promise<void>;
}
