/**
 * `--export type=vhost-user-blk,...` (QEMU's BlockExportOptions with BlockExportOptionsVhostUserBlk,
 * qapi/block-export.json): which node, where to listen, and the device's shape. Only the unix
 * socket address type is served; the other keys QEMU accepts are refused with a reason.
 */
import { ConfigError } from '@vmkit/core';
import { COALESCE_MAX_FRAMES, COALESCE_MAX_USECS, type InterruptCoalescingOptions } from '@vmkit/virtio';
import { KeyvalReader, type OptionTree } from './keyval.js';

/** The export types this daemon serves. */
export type ExportType = 'vhost-user-blk';

export interface UnixSocketAddress {
  readonly type: 'unix';
  readonly path: string;
}

export interface VhostUserBlkExportOptions {
  readonly type: 'vhost-user-blk';
  readonly id: string;
  /** The block node (or named BlockBackend) exported. */
  readonly nodeName: string;
  readonly addr: UnixSocketAddress;
  /** writable=on: the guest may write (default off, as in QEMU). */
  readonly writable: boolean;
  readonly numQueues: number;
  readonly logicalBlockSize: number;
  /** The IOThread the export's requests run in; undefined: the main loop. */
  readonly iothread: string | undefined;
  /** vmkit extension: the export's BlockBackend joins this throttle group (QEMU uses a throttle filter node). */
  readonly throttleGroup: string | undefined;
  /**
   * vmkit extension (`coalesce-frames`, `coalesce-usecs`): guest interrupts held while more
   * completions can join them; undefined: one interrupt per completion batch, as QEMU.
   */
  readonly coalescing: InterruptCoalescingOptions | undefined;
}

/** `coalesce-usecs` when only `coalesce-frames` is given. */
export const DEFAULT_COALESCE_USECS = 500;

export type ExportOptions = VhostUserBlkExportOptions;

/** QEMU's id_wellformed. */
const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;

/** The block-export id rule (BlockExportOptions.id). */
export function checkExportId(id: string): void {
  if (!ID_RE.test(id)) {
    throw new ConfigError(
      `Invalid export id '${id}': ids start with a letter and contain only letters, digits, '-', '.' and '_'`,
    );
  }
}

/** Reads and checks one --export value (keys as parsed by parseKeyval with implied key `type`). */
export function parseExportOptions(tree: OptionTree): ExportOptions {
  const r = new KeyvalReader(tree);
  const type = r.string('type');
  if (type !== 'vhost-user-blk') {
    throw new ConfigError(`Parameter 'type' does not accept value '${type}' (supported: vhost-user-blk)`);
  }
  const id = r.string('id');
  checkExportId(id);
  const nodeName = r.string('node-name');
  const writable = r.bool('writable', false);
  const iothread = r.optionalString('iothread');
  r.unsupported('fixed-iothread', 'an export always runs in its iothread');
  r.unsupported('writethrough', 'the guest chooses the cache mode (VIRTIO_BLK_F_CONFIG_WCE)');
  const numQueues = r.uint('num-queues', 1);
  if (numQueues === 0) throw new ConfigError('num-queues must be greater than 0');
  const logicalBlockSize = r.size('logical-block-size', 512);
  if (logicalBlockSize < 512 || (logicalBlockSize & (logicalBlockSize - 1)) !== 0) {
    throw new ConfigError(
      `Parameter 'logical-block-size' = ${logicalBlockSize}: must be a power of two, at least 512`,
    );
  }
  const throttleGroup = r.optionalString('throttle-group');
  const coalescing = parseCoalescing(r);
  const addr = parseUnixAddress(r.nested('addr'));
  r.finish();
  return {
    type,
    id,
    nodeName,
    addr,
    writable,
    numQueues,
    logicalBlockSize,
    iothread,
    throttleGroup,
    coalescing,
  };
}

/** coalesce-frames=0 (default) or 1: off; 2..32768 with coalesce-usecs (default 500) 1..1000000. */
function parseCoalescing(r: KeyvalReader): InterruptCoalescingOptions | undefined {
  const maxFrames = r.uint('coalesce-frames', 0);
  // -1: not given (an explicit 0 is out of range, not a request for the default).
  const usecs = r.uint('coalesce-usecs', -1);
  if (maxFrames > COALESCE_MAX_FRAMES) {
    throw new ConfigError(
      `Parameter 'coalesce-frames' = ${maxFrames}: must be 0 or 1 (off) or 2..${COALESCE_MAX_FRAMES}`,
    );
  }
  if (usecs === 0 || usecs > COALESCE_MAX_USECS) {
    throw new ConfigError(`Parameter 'coalesce-usecs' = ${usecs}: must be 1..${COALESCE_MAX_USECS}`);
  }
  if (maxFrames < 2) {
    if (usecs !== -1) {
      throw new ConfigError(`Parameter 'coalesce-usecs' needs 'coalesce-frames' of 2 or more`);
    }
    return undefined;
  }
  return { maxFrames, usecs: usecs === -1 ? DEFAULT_COALESCE_USECS : usecs };
}

function parseUnixAddress(r: KeyvalReader): UnixSocketAddress {
  const type = r.string('type');
  if (type !== 'unix') {
    throw new ConfigError(`addr.type=${type}: only socket address type 'unix' is supported`);
  }
  const path = r.string('path');
  if (path === '') throw new ConfigError(`Parameter 'addr.path' must not be empty`);
  r.unsupported('abstract', 'sockets are files');
  r.unsupported('tight', 'sockets are files');
  r.finish();
  return { type, path };
}
