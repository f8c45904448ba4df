/**
 * Types shared by the BlockBackend modules (QEMU include/sysemu/block-backend*.h, qapi).
 */
import type { AioContext, BlockIoErrorEvent } from '@vmkit/core';
import type { DetectZeroes, OpenFlags, PermMask } from '../constants.js';

/** `rerror`/`werror` policy (BlockdevOnError; 'auto' is resolved by the device before it gets here). */
export type BlockdevOnError = 'report' | 'ignore' | 'stop' | 'enospc';

/** What to do with one failed request (BlockErrorAction). */
export type BlockErrorAction = 'report' | 'ignore' | 'stop';

/** BlockDeviceIoStatus as `query-block` reports it. */
export type BlockDeviceIoStatus = 'ok' | 'failed' | 'nospace';

/**
 * Completion of an AIO request (BlockCompletionFunc): `ret` is 0 or a negative errno. Devices pass
 * a function shared by all requests and the request object as `opaque`, so no closure is made per
 * request.
 */
export type BlockCompletionFunc<T> = (opaque: T, ret: number) => void;

/** A submitted AIO request (BlockAIOCB). Request objects are pooled: do not keep one after its callback ran. */
export interface BlockAIOCB {
  /** The operation, for traces and tests. */
  readonly op: BlockAioOp;
}

export type BlockAioOp = 'read' | 'write' | 'write-zeroes' | 'discard' | 'flush' | 'abort' | 'free';

/** Options of `new BlockBackend()` (blk_new). */
export interface BlockBackendOptions {
  /** AioContext of the BlockBackend (default: the graph's main context). */
  readonly ctx?: AioContext;
  /**
   * Permissions taken on the root node. Default: chosen at insertion, consistent read plus write
   * and resize unless the node is read-only (what blk_new_open derives from the open flags), until
   * setPerm() fixes them.
   */
  readonly perm?: PermMask;
  /** Permissions left to other users (default: all). */
  readonly sharedPerm?: PermMask;
  /** Every completed operation counts this latency in the stats (QEMU's qtest rule); default: measured. */
  readonly statsFixedLatencyNs?: number;
}

/** Options of the root node remembered while no node is inserted (BlockBackendRootState). */
export interface BlockBackendRootState {
  openFlags: OpenFlags | null;
  readOnly: boolean;
  detectZeroes: DetectZeroes;
}

/** DEVICE_TRAY_MOVED. */
export interface TrayMovedEvent {
  readonly device: string;
  readonly id: string;
  readonly trayOpen: boolean;
}

/** Per-BlockBackend events (QEMU's notifier lists and the events it raises). */
export interface BlockBackendEvents {
  /** A node was inserted (insert_bs_notifiers). */
  'insert-bs': [];
  /** The root node is about to be removed (remove_bs_notifiers). */
  'remove-bs': [];
  /** BLOCK_IO_ERROR raised by errorAction(). */
  'io-error': [event: BlockIoErrorEvent];
  'tray-moved': [event: TrayMovedEvent];
}
