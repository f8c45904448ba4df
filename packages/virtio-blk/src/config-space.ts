/**
 * `struct virtio_blk_config` (QEMU virtio_blk_update_config) and the geometry guess for disks
 * without a partition table (hw/block/hd-geometry.c guess_chs_for_size).
 */
import {
  VIRTIO_BLK_CONFIG_SIZE_BASE,
  VIRTIO_BLK_CONFIG_SIZE_DISCARD,
  VIRTIO_BLK_CONFIG_SIZE_WRITE_ZEROES,
  VIRTIO_BLK_SECTOR_SIZE,
  VirtioBlkConfigOffset as O,
} from './constants.js';

/** CHS geometry as virtio-blk reports it. */
export interface BlockGeometry {
  readonly cylinders: number;
  readonly heads: number;
  readonly sectors: number;
}

/** guess_chs_for_size: 16 heads, 63 sectors, cylinders clamped to 2..16383. */
export function guessGeometry(sectors512: number): BlockGeometry {
  const cylinders = Math.min(16383, Math.max(2, Math.floor(sectors512 / (16 * 63))));
  return { cylinders, heads: 16, sectors: 63 };
}

/** Config bytes visible to the driver for the offered discard/write-zeroes features. */
export function virtioBlkConfigSize(discard: boolean, writeZeroes: boolean): number {
  if (writeZeroes) return VIRTIO_BLK_CONFIG_SIZE_WRITE_ZEROES;
  if (discard) return VIRTIO_BLK_CONFIG_SIZE_DISCARD;
  return VIRTIO_BLK_CONFIG_SIZE_BASE;
}

/** log2(physical / logical) (get_physical_block_exp). */
export function physicalBlockExp(logical: number, physical: number): number {
  let exp = 0;
  for (let size = physical; size > logical; size >>>= 1) exp++;
  return exp;
}

/** What the config space shows at one moment. */
export interface VirtioBlkConfigValues {
  /** Disk length in 512-byte sectors (0 without medium). */
  readonly capacity: number;
  readonly segMax: number;
  readonly geometry: BlockGeometry;
  readonly logicalBlockSize: number;
  readonly physicalBlockSize: number;
  readonly writeCache: boolean;
  readonly numQueues: number;
  /** Undefined when the feature is off (fields stay 0). */
  readonly maxDiscardSectors: number | undefined;
  readonly maxWriteZeroesSectors: number | undefined;
  /** Bytes of the disk length, to adjust geometry.sectors as QEMU does. */
  readonly lengthBytes: number;
}

/** Fills `config` (zeroed first) with the little-endian `virtio_blk_config` fields that fit in it. */
export function writeVirtioBlkConfig(config: Uint8Array, v: VirtioBlkConfigValues): void {
  config.fill(0);
  const view = new DataView(config.buffer, config.byteOffset, config.byteLength);
  const size = config.byteLength;
  const blkSize = v.logicalBlockSize;
  const sectorMask = blkSize / VIRTIO_BLK_SECTOR_SIZE - 1;
  const put32 = (off: number, value: number): void => {
    if (off + 4 <= size) view.setUint32(off, value >>> 0, true);
  };
  view.setBigUint64(O.CAPACITY, BigInt(v.capacity), true);
  // size_max stays 0: VIRTIO_BLK_F_SIZE_MAX is not offered.
  put32(O.SEG_MAX, v.segMax);
  view.setUint16(O.CYLINDERS, v.geometry.cylinders, true);
  view.setUint8(O.HEADS, v.geometry.heads);
  // A capacity that is not whole blocks per track makes QEMU mask the sectors to the block size.
  const g = v.geometry;
  const odd =
    v.lengthBytes > 0 && Math.floor(Math.floor(v.lengthBytes / g.heads) / g.sectors) % blkSize !== 0;
  view.setUint8(O.SECTORS, odd ? g.sectors & ~sectorMask : g.sectors);
  put32(O.BLK_SIZE, blkSize);
  view.setUint8(O.PHYSICAL_BLOCK_EXP, physicalBlockExp(blkSize, v.physicalBlockSize));
  view.setUint8(O.ALIGNMENT_OFFSET, 0);
  // min_io_size and opt_io_size are 0 (no such properties).
  view.setUint8(O.WCE, v.writeCache ? 1 : 0);
  view.setUint16(O.NUM_QUEUES, v.numQueues, true);
  if (v.maxDiscardSectors !== undefined) {
    put32(O.MAX_DISCARD_SECTORS, v.maxDiscardSectors);
    put32(O.MAX_DISCARD_SEG, 1);
    put32(O.DISCARD_SECTOR_ALIGNMENT, blkSize / VIRTIO_BLK_SECTOR_SIZE);
  }
  if (v.maxWriteZeroesSectors !== undefined) {
    put32(O.MAX_WRITE_ZEROES_SECTORS, v.maxWriteZeroesSectors);
    put32(O.MAX_WRITE_ZEROES_SEG, 1);
    if (O.WRITE_ZEROES_MAY_UNMAP < size) view.setUint8(O.WRITE_ZEROES_MAY_UNMAP, 1);
  }
}
