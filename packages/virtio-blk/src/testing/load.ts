/**
 * A load generator over a VirtioBlkDriver's queue: fixed request slots whose descriptor chains
 * (header, data, status) are written once, so keeping a queue depth only rewrites the header's
 * sector and the avail ring, and reaping only reads the used ring. Used by benchmarks; it takes
 * the queue over (the driver's own reaping is switched off).
 */
import { VirtioBlkType } from '../constants.js';
import type { VirtioBlkDriver } from './virtio-blk-driver.js';

export interface BlkLoadOptions {
  /** Requests that can be in flight (each takes 3 descriptors). */
  readonly slots: number;
  /** Data bytes per request. */
  readonly bytes: number;
  /** Writes instead of reads. */
  readonly write?: boolean;
}

/** Called for each completed slot with its status byte. */
export type BlkLoadCallback = (slot: number, status: number) => void;

function needEvent(event: number, next: number, old: number): boolean {
  return ((next - event - 1) & 0xffff) < ((next - old) & 0xffff);
}

export class VirtioBlkLoad {
  readonly slots: number;
  readonly bytes: number;
  readonly write: boolean;
  /** Completed requests. */
  completed = 0;
  /** Kicks written to QueueNotify. */
  kicks = 0;
  private readonly heads: number[] = [];
  private readonly headers: DataView[] = [];
  private readonly statuses: Uint8Array[] = [];
  private readonly slotByHead: Int32Array;
  private readonly avail: DataView;
  private readonly used: DataView;
  private readonly size: number;
  /** size - 1 when the size is a power of two (ring slot = index & mask), else -1. */
  private readonly mask: number;
  private readonly eventIdx: boolean;
  private availIdx: number;
  private kickedIdx: number;
  private lastUsed: number;
  private onDone: BlkLoadCallback | null = null;

  constructor(
    private readonly driver: VirtioBlkDriver,
    options: BlkLoadOptions,
  ) {
    const q = driver.queue;
    if (driver.pending !== 0) throw new Error('VirtioBlkLoad: the queue must be idle');
    this.slots = options.slots;
    this.bytes = options.bytes;
    this.write = options.write ?? false;
    this.size = q.size;
    this.mask = (q.size & (q.size - 1)) === 0 ? q.size - 1 : -1;
    this.eventIdx = driver.eventIdx;
    const memory = driver.memory;
    const alloc = driver.allocator;
    const start = q.availIdx;
    this.slotByHead = new Int32Array(q.size).fill(-1);
    for (let i = 0; i < this.slots; i++) {
      const hdr = alloc.alloc(16, 16);
      const data = alloc.alloc(this.bytes, 4096);
      const status = alloc.alloc(1, 1);
      memory.fill(hdr, 16, 0);
      memory.writeU32(hdr, this.write ? VirtioBlkType.OUT : VirtioBlkType.IN);
      // addChain reserves the descriptors for good; the avail entry it adds is taken back below.
      const head = q.addChain([
        { addr: hdr, len: 16, write: false },
        { addr: data, len: this.bytes, write: !this.write },
        { addr: status, len: 1, write: true },
      ]);
      this.heads.push(head);
      this.slotByHead[head] = i;
      const h = memory.view(hdr, 16);
      this.headers.push(new DataView(h.buffer, h.byteOffset, 16));
      this.statuses.push(memory.view(status, 1));
    }
    q.availIdx = start;
    this.availIdx = start;
    this.kickedIdx = start;
    this.lastUsed = q.lastUsedIdx;
    const a = memory.view(q.layout.avail, 6 + 2 * this.size);
    this.avail = new DataView(a.buffer, a.byteOffset, a.byteLength);
    const u = memory.view(q.layout.used, 6 + 8 * this.size);
    this.used = new DataView(u.buffer, u.byteOffset, u.byteLength);
    driver.reapOnInterrupt = false;
    driver.onInterrupt = this.onInterrupt;
  }

  /** Completion callback, run from the interrupt handler (or `reap`). */
  setCallback(cb: BlkLoadCallback | null): void {
    this.onDone = cb;
  }

  /** Puts slot `slot` (its sector changed) in the avail ring; `publish` makes it visible. */
  submit(slot: number, sector: number): void {
    const h = this.headers[slot];
    h.setUint32(8, sector >>> 0, true);
    h.setUint32(12, sector < 0x1_0000_0000 ? 0 : Math.floor(sector / 0x1_0000_0000), true);
    const idx = this.availIdx;
    this.avail.setUint16(4 + 2 * this.slotOf(idx), this.heads[slot], true);
    this.availIdx = (idx + 1) & 0xffff;
  }

  /** Writes avail.idx, then kicks if the device asked for it. */
  publish(): void {
    this.avail.setUint16(2, this.availIdx, true);
    const next = this.availIdx;
    const old = this.kickedIdx;
    this.kickedIdx = next;
    const want = this.eventIdx
      ? needEvent(this.used.getUint16(4 + 8 * this.size, true), next, old)
      : (this.used.getUint16(0, true) & 1) === 0;
    if (want) {
      this.kicks++;
      this.driver.queue.kick();
    }
  }

  /** Reaps the used ring, calling the callback per slot; re-arms used_event. Returns the count. */
  reap(): number {
    const used = this.used;
    const end = used.getUint16(2, true);
    let n = 0;
    while (this.lastUsed !== end) {
      const id = used.getUint32(4 + 8 * this.slotOf(this.lastUsed), true);
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
      const slot = id < this.slotByHead.length ? this.slotByHead[id] : -1;
      if (slot < 0) throw new Error(`VirtioBlkLoad: used id ${id} is not a load slot`);
      n++;
      this.completed++;
      this.onDone?.(slot, this.statuses[slot][0]);
    }
    const q = this.driver.queue;
    q.lastUsedIdx = this.lastUsed;
    if (this.eventIdx) this.avail.setUint16(4 + 2 * this.size, this.lastUsed, true);
    return n;
  }

  /** Ring slot of a 16-bit ring index. */
  private slotOf(index: number): number {
    const mask = this.mask;
    return mask >= 0 ? index & mask : index % this.size;
  }

  /** Reaps on interrupt, then publishes what the callback resubmitted (one kick decision). */
  private readonly onInterrupt = (): void => {
    this.reap();
    if (this.availIdx !== this.kickedIdx) this.publish();
  };
}
