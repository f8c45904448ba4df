/**
 * Request merging (QEMU virtio_blk_submit_multireq / submit_requests): reads or writes collected
 * during one pass over the queue are sorted by sector and contiguous runs become one backend
 * request, within the backend's iov and transfer limits. Each original request still completes
 * on its own (the mrNext chain).
 */
import { BlockAcctType, type BlockBackend } from '@vmkit/block-layer';
import { VIRTIO_BLK_MAX_MERGE_REQS, VIRTIO_BLK_SECTOR_SIZE } from './constants.js';
import type { VirtioBlkRequest } from './request.js';

/** Sort keys are `sector * KEY_SLOTS + position`: unique, so sorting them is stable. */
const KEY_SLOTS = VIRTIO_BLK_MAX_MERGE_REQS;
/** Sectors below this keep a key exact in a double (2^53 / KEY_SLOTS). */
const KEY_SECTOR_LIMIT = 2 ** 53 / KEY_SLOTS;

/** Requests collected for merging (MultiReqBuffer); reused pass after pass. */
export class MultiReqBuffer {
  readonly reqs: (VirtioBlkRequest | null)[] = new Array<VirtioBlkRequest | null>(
    VIRTIO_BLK_MAX_MERGE_REQS,
  ).fill(null);
  /** Sort keys (sector and position, see KEY_SLOTS). */
  readonly keys = new Float64Array(VIRTIO_BLK_MAX_MERGE_REQS);
  /** reqs in ring order while they are sorted. */
  readonly scratch: (VirtioBlkRequest | null)[] = new Array<VirtioBlkRequest | null>(
    VIRTIO_BLK_MAX_MERGE_REQS,
  ).fill(null);
  numReqs = 0;
  isWrite = false;
  /** Scratch of sortKeys: bucket offsets and the keys spread into buckets. */
  readonly bucketCounts = new Int32Array(VIRTIO_BLK_MAX_MERGE_REQS);
  readonly spread = new Float64Array(VIRTIO_BLK_MAX_MERGE_REQS);
  /** The keys are already in order (requests came in ascending sectors). */
  sorted = true;
  /** A sector too large for a packed key was added (see sortBySectorSlow). */
  hugeSector = false;

  add(req: VirtioBlkRequest, isWrite: boolean): void {
    const n = this.numReqs++;
    const sector = req.sectorNum;
    this.reqs[n] = req;
    // Sectors are validated against the disk size before they get here; the fallback keeps
    // the order exact for any value anyway.
    let key = sector * KEY_SLOTS + n;
    if (sector >= KEY_SECTOR_LIMIT) {
      key = Number.POSITIVE_INFINITY;
      this.hugeSector = true;
    }
    if (n > 0 && !(this.keys[n - 1] < key)) this.sorted = false;
    this.keys[n] = key;
    this.isWrite = isWrite;
  }
}

/** Completion of a (possibly merged) read or write; `opaque` is the first request of the run. */
export type RwCompletion = (first: VirtioBlkRequest, ret: number) => void;

/**
 * Sorts keys[0, n) ascending: a distribution pass into n buckets by value, then an insertion pass
 * that only has local disorder left to fix. Random sectors (the usual case) cost O(n); clustered
 * ones degrade to the insertion sort it ends with. Keys are distinct and exact.
 */
function sortKeys(mrb: MultiReqBuffer, n: number): void {
  const keys = mrb.keys;
  let min = keys[0];
  let max = min;
  for (let i = 1; i < n; i++) {
    const k = keys[i];
    if (k < min) min = k;
    else if (k > max) max = k;
  }
  const counts = mrb.bucketCounts;
  const spread = mrb.spread;
  // bucket(k) = floor((k - min) * scale) is in [0, n - 1]; the same formula in both passes makes
  // the scatter a permutation whatever the rounding.
  const scale = (n - 1) / (max - min);
  for (let b = 0; b < n; b++) counts[b] = 0;
  for (let i = 0; i < n; i++) counts[Math.floor((keys[i] - min) * scale)]++;
  let sum = 0;
  for (let b = 0; b < n; b++) {
    const c = counts[b];
    counts[b] = sum;
    sum += c;
  }
  for (let i = 0; i < n; i++) {
    const k = keys[i];
    spread[counts[Math.floor((k - min) * scale)]++] = k;
  }
  keys[0] = spread[0];
  for (let i = 1; i < n; i++) {
    const key = spread[i];
    let j = i - 1;
    while (j >= 0 && keys[j] > key) {
      keys[j + 1] = keys[j];
      j--;
    }
    keys[j + 1] = key;
  }
}

/**
 * Stable sort by sector (QEMU uses qsort, which leaves equal sectors in any order; a stable order
 * keeps same-sector writes in ring order). At most 32 entries, no allocation: the numeric keys
 * are sorted alone, then the requests are permuted once.
 */
function sortBySector(mrb: MultiReqBuffer, n: number): void {
  const reqs = mrb.reqs;
  const keys = mrb.keys;
  if (mrb.hugeSector) {
    sortBySectorSlow(mrb, n);
    return;
  }
  sortKeys(mrb, n);
  const scratch = mrb.scratch;
  for (let i = 0; i < n; i++) scratch[i] = reqs[i];
  for (let i = 0; i < n; i++) {
    const key = keys[i];
    // key % KEY_SLOTS without a floating-point remainder (all values here are exact).
    reqs[i] = scratch[key - Math.floor(key / KEY_SLOTS) * KEY_SLOTS];
  }
  // Loops rather than Array.prototype.fill, which is a slow call into the runtime.
  for (let i = 0; i < n; i++) scratch[i] = null;
}

/** Sectors too large for packed keys (not reachable with a disk below 2^53 bytes). */
function sortBySectorSlow(mrb: MultiReqBuffer, n: number): void {
  const reqs = mrb.reqs;
  for (let i = 1; i < n; i++) {
    const r = reqs[i]!;
    let j = i - 1;
    while (j >= 0 && reqs[j]!.sectorNum > r.sectorNum) {
      reqs[j + 1] = reqs[j];
      j--;
    }
    reqs[j + 1] = r;
  }
}

/** submit_requests: one backend request for reqs[start, start + num). */
function submitRequests(
  blk: BlockBackend,
  mrb: MultiReqBuffer,
  start: number,
  num: number,
  complete: RwCompletion,
): void {
  const reqs = mrb.reqs;
  const first = reqs[start]!;
  let qiov = first.qiov;
  if (num > 1) {
    qiov = first.mergedQiov;
    qiov.reset();
    qiov.concat(first.qiov, 0, first.qiov.size);
    for (let i = start + 1; i < start + num; i++) {
      const r = reqs[i]!;
      qiov.concat(r.qiov, 0, r.qiov.size);
      reqs[i - 1]!.mrNext = r;
    }
    blk.acctMergeDone(mrb.isWrite ? BlockAcctType.WRITE : BlockAcctType.READ, num - 1);
  }
  reqs[start + num - 1]!.mrNext = null;
  const offset = first.sectorNum * VIRTIO_BLK_SECTOR_SIZE;
  if (mrb.isWrite) blk.aioPwritev(offset, qiov, 0, complete, first);
  else blk.aioPreadv(offset, qiov, 0, complete, first);
}

/** virtio_blk_submit_multireq: submits everything buffered and empties the buffer. */
export function submitMultireq(blk: BlockBackend, mrb: MultiReqBuffer, complete: RwCompletion): void {
  const n = mrb.numReqs;
  const reqs = mrb.reqs;
  if (n === 0) return;
  mrb.numReqs = 0;
  if (n === 1) {
    mrb.sorted = true;
    mrb.hugeSector = false;
    submitRequests(blk, mrb, 0, 1, complete);
    reqs[0] = null;
    return;
  }
  const maxTransfer = blk.maxTransfer;
  const maxIov = blk.maxIov;
  if (!mrb.sorted) sortBySector(mrb, n);
  mrb.sorted = true;
  mrb.hugeSector = false;
  let start = 0;
  let numReqs = 0;
  let niov = 0;
  let nbSectors = 0;
  let sectorNum = 0;
  for (let i = 0; i < n; i++) {
    const req = reqs[i]!;
    const size = req.qiov.size;
    if (numReqs > 0) {
      // A run ends when the next request is not contiguous, or merging it would exceed the
      // backend's iov count or transfer size.
      if (
        sectorNum + nbSectors !== req.sectorNum ||
        niov > maxIov - req.qiov.niov ||
        size > maxTransfer ||
        nbSectors > (maxTransfer - size) / VIRTIO_BLK_SECTOR_SIZE
      ) {
        submitRequests(blk, mrb, start, numReqs, complete);
        numReqs = 0;
      }
    }
    if (numReqs === 0) {
      sectorNum = req.sectorNum;
      nbSectors = 0;
      niov = 0;
      start = i;
    }
    nbSectors += size / VIRTIO_BLK_SECTOR_SIZE;
    niov += req.qiov.niov;
    numReqs++;
  }
  submitRequests(blk, mrb, start, numReqs, complete);
  for (let i = 0; i < n; i++) reqs[i] = null;
}
