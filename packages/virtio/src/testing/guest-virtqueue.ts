/**
 * The driver side of one split virtqueue, as a guest would run it (Linux virtio_ring.c, split
 * half): descriptor free list, chains in any split (direct or through an indirect table), avail
 * publication, kick suppression, used-ring reaping and interrupt suppression controls. Speaks only
 * through guest memory and the kick callback.
 */
import type { GuestMemory } from '@vmkit/core';
import {
  VRING_AVAIL_F_NO_INTERRUPT,
  VRING_DESC_SIZE,
  VRING_USED_F_NO_NOTIFY,
  VringDescFlag,
} from '../constants.js';
import { availEventOffset, usedEventOffset, vringNeedEvent } from '../ring/layout.js';
import type { GuestAllocator } from './guest-allocator.js';

/** One buffer of a chain. */
export interface ChainBuffer {
  readonly addr: number;
  readonly len: number;
  /** Device-writable. */
  readonly write: boolean;
}

/** A raw descriptor as written to a table. */
export interface RawDescriptor {
  readonly addr: number | bigint;
  readonly len: number;
  readonly flags: number;
  readonly next: number;
}

export interface AddChainOptions {
  /** Put the buffers in an indirect table (allocated in guest memory) pointed to by one descriptor. */
  readonly indirect?: boolean;
}

export interface SubmitOptions extends AddChainOptions {
  /** Device-readable bytes (copied into freshly allocated guest buffers). */
  readonly out?: Uint8Array;
  /** Descriptor lengths for `out`, summing to its length (default: one descriptor). */
  readonly outSplit?: readonly number[];
  /** Device-writable bytes to provide. */
  readonly inLength?: number;
  /** Descriptor lengths for the writable part, summing to `inLength` (default: one descriptor). */
  readonly inSplit?: readonly number[];
  /** Publish avail.idx right away (default true). */
  readonly publish?: boolean;
}

/** A request submitted with `submit`. */
export interface GuestRequest {
  readonly head: number;
  readonly outBuffers: readonly ChainBuffer[];
  readonly inBuffers: readonly ChainBuffer[];
}

/** A used-ring entry reaped by the driver. */
export interface UsedElement {
  readonly id: number;
  readonly len: number;
  /** The request submitted with that head, if it was made by `submit`. */
  readonly request: GuestRequest | undefined;
}

export interface GuestVirtqueueLayout {
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
}

interface InFlight {
  descriptors: number[];
  allocations: number[];
  request: GuestRequest | undefined;
}

export class GuestVirtqueue {
  /** Next avail index the driver will publish (free-running u16). */
  availIdx: number;
  /** Next used index the driver will reap. */
  lastUsedIdx: number;
  /** avail.idx at the last kick decision (for EVENT_IDX kick suppression). */
  private kickedIdx: number;
  /** Queue kicks performed. */
  kicks = 0;
  private readonly freeList: number[] = [];
  private readonly inFlight = new Map<number, InFlight>();

  constructor(
    private readonly memory: GuestMemory,
    private readonly allocator: GuestAllocator,
    readonly index: number,
    readonly size: number,
    readonly layout: GuestVirtqueueLayout,
    /** VIRTIO_RING_F_EVENT_IDX negotiated. */
    readonly eventIdx: boolean,
    private readonly notify: (queue: number) => void,
    startIndex = 0,
  ) {
    for (let i = size - 1; i >= 0; i--) this.freeList.push(i);
    this.availIdx = this.lastUsedIdx = this.kickedIdx = startIndex & 0xffff;
  }

  /**
   * Zeroes the rings and writes the starting indexes (before the queue is made ready). Rings placed
   * outside guest memory on purpose are left alone.
   */
  initRings(): void {
    const { desc, avail, used } = this.layout;
    const m = this.memory;
    if (m.isMapped(desc, VRING_DESC_SIZE * this.size)) m.fill(desc, VRING_DESC_SIZE * this.size, 0);
    if (m.isMapped(avail, 6 + 2 * this.size)) {
      m.fill(avail, 6 + 2 * this.size, 0);
      m.writeU16(avail + 2, this.availIdx);
      if (this.eventIdx) this.setUsedEvent(this.lastUsedIdx);
    }
    if (m.isMapped(used, 6 + 8 * this.size)) {
      m.fill(used, 6 + 8 * this.size, 0);
      m.writeU16(used + 2, this.availIdx);
    }
  }

  /** Free descriptors in the main table. */
  get freeDescriptors(): number {
    return this.freeList.length;
  }

  // ---- raw access (hostile tests) ----

  writeDescriptor(i: number, d: RawDescriptor, table = this.layout.desc): void {
    const base = table + VRING_DESC_SIZE * i;
    this.memory.writeU64(base, BigInt(d.addr));
    this.memory.writeU32(base + 8, d.len >>> 0);
    this.memory.writeU16(base + 12, d.flags & 0xffff);
    this.memory.writeU16(base + 14, d.next & 0xffff);
  }

  readDescriptor(i: number, table = this.layout.desc): RawDescriptor {
    const base = table + VRING_DESC_SIZE * i;
    return {
      addr: this.memory.readU64(base),
      len: this.memory.readU32(base + 8),
      flags: this.memory.readU16(base + 12),
      next: this.memory.readU16(base + 14),
    };
  }

  /** Puts `head` in the next avail slot without publishing it. */
  addHead(head: number): void {
    this.memory.writeU16(this.layout.avail + 4 + 2 * (this.availIdx % this.size), head & 0xffff);
    this.availIdx = (this.availIdx + 1) & 0xffff;
  }

  /** Writes avail.idx = the driver's index (after the ring entries, as a guest's wmb orders them). */
  publish(): void {
    this.memory.writeU16(this.layout.avail + 2, this.availIdx);
  }

  /** Writes any avail.idx value (hostile tests). */
  setAvailIdx(value: number): void {
    this.memory.writeU16(this.layout.avail + 2, value & 0xffff);
  }

  get deviceUsedIdx(): number {
    return this.memory.readU16(this.layout.used + 2);
  }

  get usedFlags(): number {
    return this.memory.readU16(this.layout.used);
  }

  /** avail_event as written by the device (EVENT_IDX). */
  get availEvent(): number {
    return this.memory.readU16(this.layout.used + availEventOffset(this.size));
  }

  /** used_event: interrupt me once used.idx passes this index (EVENT_IDX). */
  setUsedEvent(value: number): void {
    this.memory.writeU16(this.layout.avail + usedEventOffset(this.size), value & 0xffff);
  }

  get usedEvent(): number {
    return this.memory.readU16(this.layout.avail + usedEventOffset(this.size));
  }

  /** VRING_AVAIL_F_NO_INTERRUPT (without EVENT_IDX). */
  setNoInterrupt(suppress: boolean): void {
    const flags = this.memory.readU16(this.layout.avail);
    this.memory.writeU16(
      this.layout.avail,
      suppress ? flags | VRING_AVAIL_F_NO_INTERRUPT : flags & ~VRING_AVAIL_F_NO_INTERRUPT,
    );
  }

  // ---- chains ----

  /**
   * Builds a chain over `buffers` (readable ones must come first for a well-formed chain, but any
   * order is written as given) and adds its head to the avail ring. Returns the head index.
   */
  addChain(buffers: readonly ChainBuffer[], options: AddChainOptions = {}): number {
    if (buffers.length === 0) throw new RangeError('addChain: no buffers');
    const entry: InFlight = { descriptors: [], allocations: [], request: undefined };
    let head: number;
    if (options.indirect === true) {
      const table = this.allocator.alloc(VRING_DESC_SIZE * buffers.length, 16);
      entry.allocations.push(table);
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        this.writeDescriptor(
          i,
          {
            addr: b.addr,
            len: b.len,
            flags: (b.write ? VringDescFlag.WRITE : 0) | (last ? 0 : VringDescFlag.NEXT),
            next: last ? 0 : i + 1,
          },
          table,
        );
      });
      head = this.takeDescriptor();
      entry.descriptors.push(head);
      this.writeDescriptor(head, {
        addr: table,
        len: VRING_DESC_SIZE * buffers.length,
        flags: VringDescFlag.INDIRECT,
        next: 0,
      });
    } else {
      if (buffers.length > this.freeList.length)
        throw new RangeError('addChain: not enough free descriptors');
      const ids = buffers.map(() => this.takeDescriptor());
      entry.descriptors.push(...ids);
      buffers.forEach((b, i) => {
        const last = i === buffers.length - 1;
        this.writeDescriptor(ids[i], {
          addr: b.addr,
          len: b.len,
          flags: (b.write ? VringDescFlag.WRITE : 0) | (last ? 0 : VringDescFlag.NEXT),
          next: last ? 0 : ids[i + 1],
        });
      });
      head = ids[0]!;
    }
    this.inFlight.set(head, entry);
    this.addHead(head);
    return head;
  }

  /**
   * Allocates buffers, copies `out` into them, builds the chain with the requested splits and
   * publishes it (no kick: call `kick()` or `kickIfNeeded()`).
   */
  submit(options: SubmitOptions): GuestRequest {
    const out = options.out ?? new Uint8Array(0);
    const outSplit = options.outSplit ?? (out.length > 0 ? [out.length] : []);
    const inLength = options.inLength ?? 0;
    const inSplit = options.inSplit ?? (inLength > 0 ? [inLength] : []);
    if (sum(outSplit) !== out.length) throw new RangeError('submit: outSplit does not sum to out.length');
    if (sum(inSplit) !== inLength) throw new RangeError('submit: inSplit does not sum to inLength');
    const allocations: number[] = [];
    const outBuffers: ChainBuffer[] = [];
    let pos = 0;
    for (const len of outSplit) {
      const addr = this.allocator.alloc(Math.max(len, 1), 1);
      allocations.push(addr);
      this.memory.write(addr, out.subarray(pos, pos + len));
      outBuffers.push({ addr, len, write: false });
      pos += len;
    }
    const inBuffers: ChainBuffer[] = [];
    for (const len of inSplit) {
      const addr = this.allocator.alloc(Math.max(len, 1), 1);
      allocations.push(addr);
      this.memory.fill(addr, len, 0);
      inBuffers.push({ addr, len, write: true });
    }
    const head = this.addChain([...outBuffers, ...inBuffers], options);
    const request: GuestRequest = { head, outBuffers, inBuffers };
    const entry = this.inFlight.get(head)!;
    entry.allocations.push(...allocations);
    entry.request = request;
    if (options.publish !== false) this.publish();
    return request;
  }

  /** The first `length` bytes (default all) of a request's device-writable buffers. */
  readIn(request: GuestRequest, length?: number): Uint8Array {
    const total = sum(request.inBuffers.map((b) => b.len));
    const out = new Uint8Array(Math.min(length ?? total, total));
    let pos = 0;
    for (const b of request.inBuffers) {
      if (pos >= out.length) break;
      const n = Math.min(b.len, out.length - pos);
      this.memory.read(b.addr, out.subarray(pos, pos + n));
      pos += n;
    }
    return out;
  }

  // ---- notification ----

  /** Whether the device wants a kick for what was published since the last kick decision. */
  needsKick(): boolean {
    const newIdx = this.memory.readU16(this.layout.avail + 2);
    const old = this.kickedIdx;
    this.kickedIdx = newIdx;
    if (this.eventIdx) return vringNeedEvent(this.availEvent, newIdx, old);
    return (this.usedFlags & VRING_USED_F_NO_NOTIFY) === 0;
  }

  /** Writes QueueNotify unconditionally. */
  kick(): void {
    this.kickedIdx = this.memory.readU16(this.layout.avail + 2);
    this.kicks++;
    this.notify(this.index);
  }

  /** Kicks only if the device asked for it (virtqueue_kick_prepare + notify); returns whether it kicked. */
  kickIfNeeded(): boolean {
    if (!this.needsKick()) return false;
    this.kicks++;
    this.notify(this.index);
    return true;
  }

  // ---- completion ----

  /** Used entries published by the device and not reaped yet. */
  get pendingUsed(): number {
    return (this.deviceUsedIdx - this.lastUsedIdx) & 0xffff;
  }

  /**
   * Reaps every published used entry, freeing its descriptors and buffers. With EVENT_IDX and
   * `rearm` (default true) writes used_event = the new last-used index (virtqueue_enable_cb).
   */
  reap(rearm = true): UsedElement[] {
    const used = this.layout.used;
    const end = this.deviceUsedIdx;
    const result: UsedElement[] = [];
    while (this.lastUsedIdx !== end) {
      const slot = this.lastUsedIdx % this.size;
      const id = this.memory.readU32(used + 4 + 8 * slot);
      const len = this.memory.readU32(used + 8 + 8 * slot);
      const entry = this.inFlight.get(id);
      if (entry !== undefined) {
        this.inFlight.delete(id);
        for (const d of entry.descriptors) this.freeList.push(d);
        for (const a of entry.allocations) this.allocator.release(a);
      }
      result.push({ id, len, request: entry?.request });
      this.lastUsedIdx = (this.lastUsedIdx + 1) & 0xffff;
    }
    if (rearm && this.eventIdx) this.setUsedEvent(this.lastUsedIdx);
    return result;
  }

  private takeDescriptor(): number {
    const d = this.freeList.pop();
    if (d === undefined) throw new RangeError('no free descriptor');
    return d;
  }
}

function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}
