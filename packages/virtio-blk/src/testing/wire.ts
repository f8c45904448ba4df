/** Encoding of virtio-blk requests and decoding of its config space, for guest-side drivers. */
import {
  VIRTIO_BLK_DWZ_SEGMENT_SIZE,
  VIRTIO_BLK_OUTHDR_SIZE,
  VirtioBlkConfigOffset as O,
} from '../constants.js';

/** `virtio_blk_outhdr`: type, ioprio, sector (little-endian). */
export function encodeOutHeader(type: number, sector: number | bigint, ioprio = 0): Uint8Array {
  const b = new Uint8Array(VIRTIO_BLK_OUTHDR_SIZE);
  const v = new DataView(b.buffer);
  v.setUint32(0, type >>> 0, true);
  v.setUint32(4, ioprio >>> 0, true);
  v.setBigUint64(8, BigInt.asUintN(64, BigInt(sector)), true);
  return b;
}

/** One discard / write-zeroes range. */
export interface DiscardRange {
  readonly sector: number | bigint;
  readonly numSectors: number;
  /** Bit 0: VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP. */
  readonly flags?: number;
}

/** `virtio_blk_discard_write_zeroes` segments, back to back. */
export function encodeDiscardRanges(ranges: readonly DiscardRange[]): Uint8Array {
  const b = new Uint8Array(VIRTIO_BLK_DWZ_SEGMENT_SIZE * ranges.length);
  const v = new DataView(b.buffer);
  ranges.forEach((r, i) => {
    const o = VIRTIO_BLK_DWZ_SEGMENT_SIZE * i;
    v.setBigUint64(o, BigInt.asUintN(64, BigInt(r.sector)), true);
    v.setUint32(o + 8, r.numSectors >>> 0, true);
    v.setUint32(o + 12, (r.flags ?? 0) >>> 0, true);
  });
  return b;
}

/** `struct virtio_blk_config` as the driver reads it. */
export interface VirtioBlkConfigInfo {
  /** 512-byte sectors. */
  readonly capacity: bigint;
  readonly sizeMax: number;
  readonly segMax: number;
  readonly geometry: { readonly cylinders: number; readonly heads: number; readonly sectors: number };
  readonly blkSize: number;
  readonly physicalBlockExp: number;
  readonly alignmentOffset: number;
  readonly minIoSize: number;
  readonly optIoSize: number;
  readonly wce: number;
  readonly numQueues: number;
  readonly maxDiscardSectors: number;
  readonly maxDiscardSeg: number;
  readonly discardSectorAlignment: number;
  readonly maxWriteZeroesSectors: number;
  readonly maxWriteZeroesSeg: number;
  readonly writeZeroesMayUnmap: number;
}

/** Register-level config accessors (VirtioMmioDriver has them). */
export interface ConfigReader {
  readConfig8(offset: number): number;
  readConfig16(offset: number): number;
  readConfig32(offset: number): number;
  readConfig64(offset: number): bigint;
}

/** Reads every field with accesses of its own width, as a guest does. */
export function readVirtioBlkConfig(r: ConfigReader): VirtioBlkConfigInfo {
  return {
    capacity: r.readConfig64(O.CAPACITY),
    sizeMax: r.readConfig32(O.SIZE_MAX),
    segMax: r.readConfig32(O.SEG_MAX),
    geometry: {
      cylinders: r.readConfig16(O.CYLINDERS),
      heads: r.readConfig8(O.HEADS),
      sectors: r.readConfig8(O.SECTORS),
    },
    blkSize: r.readConfig32(O.BLK_SIZE),
    physicalBlockExp: r.readConfig8(O.PHYSICAL_BLOCK_EXP),
    alignmentOffset: r.readConfig8(O.ALIGNMENT_OFFSET),
    minIoSize: r.readConfig16(O.MIN_IO_SIZE),
    optIoSize: r.readConfig32(O.OPT_IO_SIZE),
    wce: r.readConfig8(O.WCE),
    numQueues: r.readConfig16(O.NUM_QUEUES),
    maxDiscardSectors: r.readConfig32(O.MAX_DISCARD_SECTORS),
    maxDiscardSeg: r.readConfig32(O.MAX_DISCARD_SEG),
    discardSectorAlignment: r.readConfig32(O.DISCARD_SECTOR_ALIGNMENT),
    maxWriteZeroesSectors: r.readConfig32(O.MAX_WRITE_ZEROES_SECTORS),
    maxWriteZeroesSeg: r.readConfig32(O.MAX_WRITE_ZEROES_SEG),
    writeZeroesMayUnmap: r.readConfig8(O.WRITE_ZEROES_MAY_UNMAP),
  };
}
