/**
 * Error policies and BLOCK_IO_ERROR (block-backend.c blk_get_error_action, send_qmp_error_event).
 * The BlockBackend applies them in `errorAction()`; the pure parts live here.
 */
import { Errno, strerror, type BlockIoErrorEvent } from '@vmkit/core';
import type { BlockdevOnError, BlockErrorAction } from './types.js';

const ON_ERROR_VALUES: readonly BlockdevOnError[] = ['report', 'ignore', 'stop', 'enospc'];

/** Whether `v` is a valid rerror/werror policy. */
export function isBlockdevOnError(v: unknown): v is BlockdevOnError {
  return typeof v === 'string' && (ON_ERROR_VALUES as readonly string[]).includes(v);
}

/**
 * blk_get_error_action: `enospc` stops on ENOSPC and reports anything else; the other policies
 * map to their action. `errno` may be given positive or negative.
 */
export function errorActionFor(policy: BlockdevOnError, errno: number): BlockErrorAction {
  switch (policy) {
    case 'enospc':
      return Math.abs(errno) === Errno.ENOSPC ? 'stop' : 'report';
    case 'stop':
      return 'stop';
    case 'report':
      return 'report';
    case 'ignore':
      return 'ignore';
  }
}

/** The BLOCK_IO_ERROR payload (send_qmp_error_event). */
export function ioErrorEvent(
  device: string,
  nodeName: string,
  action: BlockErrorAction,
  isRead: boolean,
  errno: number,
): BlockIoErrorEvent {
  const e = Math.abs(errno);
  return {
    device,
    nodeName,
    operation: isRead ? 'read' : 'write',
    action,
    nospace: e === Errno.ENOSPC,
    errno: e,
    reason: strerror(e),
  };
}
