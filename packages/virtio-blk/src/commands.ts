/**
 * The virtio-blk requests other than reads and writes (QEMU virtio_blk_handle_request's other
 * branches): FLUSH, GET_ID, SCSI_CMD (refused) and DISCARD / WRITE_ZEROES with their validation
 * (qemu-behaviour.md §4.3). Module functions over the device's request path (VirtioBlkIo).
 */
import { BlockAcctType, RequestFlags } from '@vmkit/block-layer';
import {
  VIRTIO_BLK_DWZ_SEGMENT_SIZE,
  VIRTIO_BLK_ID_BYTES,
  VIRTIO_BLK_OUTHDR_SIZE,
  VIRTIO_BLK_SECTOR_SIZE,
  VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP,
  VirtioBlkStatus,
  VirtioBlkType,
} from './constants.js';
import { dwzComplete, flushComplete, rwComplete } from './completions.js';
import type { VirtioBlkIo } from './io.js';
import { submitMultireq, type MultiReqBuffer } from './multireq.js';
import type { VirtioBlkRequest } from './request.js';

const { OK, IOERR, UNSUPP } = VirtioBlkStatus;
const T_OUT = VirtioBlkType.OUT;
const TWO_32 = 0x1_0000_0000;
/** `errors` of the SCSI in-header as the guest gets it back (255: the command failed). */
const SCSI_ERRORS = [255, 0, 0, 0];

function le32(b: Uint8Array, o: number): number {
  return (b[o] | (b[o + 1] << 8) | (b[o + 2] << 16) | (b[o + 3] << 24)) >>> 0;
}

/** virtio_blk_handle_flush: buffered writes go first. */
export function handleFlush(io: VirtioBlkIo, req: VirtioBlkRequest, mrb: MultiReqBuffer): void {
  const blk = io.blk;
  blk.acctStart(req.cookie, 0, BlockAcctType.FLUSH);
  if (mrb.isWrite && mrb.numReqs > 0) submitMultireq(blk, mrb, rwComplete);
  blk.aioFlush(flushComplete, req);
}

/** VIRTIO_BLK_T_GET_ID: the serial, NUL-terminated when there is room, clipped to 20 bytes. */
export function handleGetId(io: VirtioBlkIo, req: VirtioBlkRequest): void {
  const serial = io.serial;
  const size = Math.min(serial.length, req.inLen - 1, VIRTIO_BLK_ID_BYTES);
  if (size > 0) req.elem.inSg.copyFrom(serial.subarray(0, size), 0);
  io.completeAndFree(req, OK);
}

/**
 * SCSI passthrough is not supported (VIRTIO_BLK_F_SCSI is never offered): IOERR without room
 * for its headers, else UNSUPP; `errors` of the SCSI in-header (the start of the next-to-last
 * device-writable buffer, clipped to it) is set to 255 so the guest's ioctl fails.
 */
export function handleScsi(io: VirtioBlkIo, req: VirtioBlkRequest): void {
  const elem = req.elem;
  if (elem.outNum < 2 || elem.inNum < 3) {
    io.completeAndFree(req, IOERR);
    return;
  }
  const views = elem.inSg.views;
  const scsi = views[views.length - 2];
  if (scsi !== undefined) {
    for (let i = 0; i < 4 && i < scsi.length; i++) scsi[i] = SCSI_ERRORS[i];
  }
  io.completeAndFree(req, UNSUPP);
}

/**
 * The discard / write-zeroes branch of virtio_blk_handle_request: 0 when completed or submitted,
 * -1 after a device error (a segment shorter than 16 bytes).
 */
export function handleDiscardWriteZeroes(io: VirtioBlkIo, req: VirtioBlkRequest, type: number): number {
  const elem = req.elem;
  const isWriteZeroes = (type & ~VirtioBlkType.BARRIER) === VirtioBlkType.WRITE_ZEROES;
  const payload = elem.outSg.size - VIRTIO_BLK_OUTHDR_SIZE;
  if ((type & T_OUT) === 0 || payload > VIRTIO_BLK_DWZ_SEGMENT_SIZE) {
    io.completeAndFree(req, UNSUPP);
    return 0;
  }
  if (payload < VIRTIO_BLK_DWZ_SEGMENT_SIZE) {
    io.deviceError('virtio-blk discard/write_zeroes header too short');
    return -1;
  }
  const seg = req.header;
  elem.outSg.copyTo(seg, VIRTIO_BLK_OUTHDR_SIZE, VIRTIO_BLK_DWZ_SEGMENT_SIZE);
  const sector = le32(seg, 0) + le32(seg, 4) * TWO_32;
  const numSectors = le32(seg, 8);
  const flags = le32(seg, 12);
  const status = startDiscardWriteZeroes(io, req, isWriteZeroes, sector, numSectors, flags);
  if (status !== OK) {
    if (isWriteZeroes) io.blk.acctInvalid(BlockAcctType.WRITE);
    io.completeAndFree(req, status);
  }
  return 0;
}

/** virtio_blk_handle_discard_write_zeroes: OK when submitted, else the status to answer. */
function startDiscardWriteZeroes(
  io: VirtioBlkIo,
  req: VirtioBlkRequest,
  isWriteZeroes: boolean,
  sector: number,
  numSectors: number,
  flags: number,
): number {
  const conf = io.conf;
  const max = isWriteZeroes ? conf.maxWriteZeroesSectors : conf.maxDiscardSectors;
  if (numSectors > max) return IOERR;
  const bytes = numSectors * VIRTIO_BLK_SECTOR_SIZE;
  if (!io.sectRangeOk(sector, bytes)) return IOERR;
  if ((flags & ~VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return UNSUPP;
  req.sectorNum = sector;
  const offset = sector * VIRTIO_BLK_SECTOR_SIZE;
  const blk = io.blk;
  if (isWriteZeroes) {
    const unmap = (flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0;
    blk.acctStart(req.cookie, bytes, BlockAcctType.WRITE);
    blk.aioPwriteZeroes(offset, bytes, unmap ? RequestFlags.MAY_UNMAP : 0, dwzComplete, req);
  } else {
    if ((flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) !== 0) return UNSUPP;
    blk.aioPdiscard(offset, bytes, dwzComplete, req);
  }
  return OK;
}
