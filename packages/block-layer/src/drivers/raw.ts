/**
 * `raw`: the format driver that passes everything through to its `file` child, optionally
 * exposing only the window [offset, offset + size) of it (block/raw-format.c).
 */
import { ConfigError, Errno } from '@vmkit/core';
import {
  BDRV_SECTOR_SIZE,
  BlockStatus,
  ChildRole,
  Perm,
  RequestFlags,
  type MaybePromise,
} from '../constants.js';
import type { BlockDriver, DriverOptions } from '../driver.js';
import type { BlockDriverState } from '../node.js';
import type { BdrvChild } from '../child.js';
import { defaultPerms } from '../permissions.js';
import { bdrvPreadv } from '../io/read.js';
import { bdrvPwritev, bdrvPwriteZeroes } from '../io/write.js';
import { bdrvPdiscard } from '../io/discard.js';
import { bdrvTruncate } from '../io/truncate.js';
import { bdrvGetLength } from '../io/driver-io.js';
import { checkKeys, sizeOption } from './options.js';

export interface RawOptions {
  offset: number;
  size: number | undefined;
  file: unknown;
}

export interface RawState {
  offset: number;
  size: number;
  hasSize: boolean;
  file: BdrvChild;
}

function file(bs: BlockDriverState<RawState>): BdrvChild {
  return bs.opaque.file;
}

/** raw_adjust_offset: the window check (-ENOSPC for writes, -EINVAL for reads) and shift. */
function adjust(bs: BlockDriverState<RawState>, offset: number, bytes: number, isWrite: boolean): number {
  const s = bs.opaque;
  if (s.hasSize && (offset > s.size || bytes > s.size - offset))
    return isWrite ? -Errno.ENOSPC : -Errno.EINVAL;
  return offset + s.offset;
}

export const rawDriver: BlockDriver<RawState, RawOptions> = {
  name: 'raw',
  kind: 'format',
  parseOptions(options: DriverOptions): RawOptions {
    checkKeys(options, ['file', 'offset', 'size']);
    return {
      offset: sizeOption(options, 'offset') ?? 0,
      size: sizeOption(options, 'size'),
      file: options.file,
    };
  },
  async open(bs, options) {
    const hasSize = options.size !== undefined;
    const role =
      hasSize || options.offset ? ChildRole.DATA | ChildRole.PRIMARY : ChildRole.FILTERED | ChildRole.PRIMARY;
    const child = await bs.openChild(options.file as Parameters<typeof bs.openChild>[0], 'file', role);
    if (child === null) throw new ConfigError('A block device must be specified for "file"');
    const fileBs = child.node;
    const realSize = await bdrvGetLength(fileBs);
    if (realSize < 0) throw new ConfigError('Could not get the size of the file');
    if (options.offset > realSize) {
      throw new ConfigError(
        `Offset (${options.offset}) cannot be greater than size of the containing file (${realSize})`,
      );
    }
    if (hasSize && realSize - options.offset < options.size!) {
      throw new ConfigError(
        `The sum of offset (${options.offset}) and size (${options.size}) has to be smaller or equal to the ` +
          `actual size of the containing file (${realSize})`,
      );
    }
    if (hasSize && options.size! % BDRV_SECTOR_SIZE !== 0) {
      throw new ConfigError(`Specified size is not multiple of ${BDRV_SECTOR_SIZE}`);
    }
    bs.opaque = {
      offset: options.offset,
      size: hasSize ? options.size! : realSize - options.offset,
      hasSize,
      file: child,
    };
    bs.supportedWriteFlags = RequestFlags.WRITE_UNCHANGED | (RequestFlags.FUA & fileBs.supportedWriteFlags);
    bs.supportedZeroFlags =
      RequestFlags.WRITE_UNCHANGED |
      ((RequestFlags.FUA | RequestFlags.MAY_UNMAP | RequestFlags.NO_FALLBACK) & fileBs.supportedZeroFlags);
  },
  async getLength(bs) {
    const s = bs.opaque;
    if (s.hasSize) return s.size;
    const len = await bdrvGetLength(s.file.node);
    if (len < 0) return len;
    return Math.max(0, len - s.offset);
  },
  preadv(bs, offset, bytes, qiov, qiovOffset, flags): MaybePromise<number> {
    const off = adjust(bs, offset, bytes, false);
    if (off < 0) return off;
    const ev = file(bs).bs?.debugEvent('read_aio');
    if (ev) return ev.then(() => bdrvPreadv(file(bs), off, bytes, qiov, qiovOffset, flags));
    return bdrvPreadv(file(bs), off, bytes, qiov, qiovOffset, flags);
  },
  pwritev(bs, offset, bytes, qiov, qiovOffset, flags): MaybePromise<number> {
    const off = adjust(bs, offset, bytes, true);
    if (off < 0) return off;
    const ev = file(bs).bs?.debugEvent('write_aio');
    if (ev) return ev.then(() => bdrvPwritev(file(bs), off, bytes, qiov, qiovOffset, flags));
    return bdrvPwritev(file(bs), off, bytes, qiov, qiovOffset, flags);
  },
  pwriteZeroes(bs, offset, bytes, flags) {
    const off = adjust(bs, offset, bytes, true);
    if (off < 0) return off;
    return bdrvPwriteZeroes(file(bs), off, bytes, flags);
  },
  pdiscard(bs, offset, bytes) {
    const off = adjust(bs, offset, bytes, true);
    if (off < 0) return off;
    return bdrvPdiscard(file(bs), off, bytes);
  },
  async truncate(bs, offset, exact, prealloc, flags) {
    const s = bs.opaque;
    if (s.hasSize) return -Errno.ENOTSUP; // Cannot resize fixed-size raw disks
    if (s.offset) return -Errno.ENOTSUP;
    return bdrvTruncate(file(bs), offset, { exact, prealloc, flags });
  },
  blockStatus(bs, _wantZero, offset, bytes) {
    return {
      status: BlockStatus.RAW | BlockStatus.OFFSET_VALID,
      pnum: bytes,
      map: offset + bs.opaque.offset,
      file: file(bs).bs,
    };
  },
  childPerm(bs, _child, role, perm, shared) {
    const p = defaultPerms(bs, role, perm, shared);
    // Only take WRITE/RESIZE/WRITE_UNCHANGED when the parents want them.
    return { perm: p.perm & (perm | Perm.CONSISTENT_READ), shared: p.shared };
  },
  info: (bs) => ({ formatSpecific: { offset: bs.opaque.offset, size: bs.opaque.size } }),
};
