/**
 * A guest-side virtio-blk driver for tests (the steps of Linux virtio_blk.c) on top of
 * @vmkit/virtio's VirtioMmioDriver: it talks to the device only through the MMIO registers and
 * guest memory. Requests can be built with any descriptor split, through indirect tables, or
 * from raw bytes; completions are reaped from the used ring.
 */
import type { GuestMemory } from '@vmkit/core';
import { VirtioFeature, featureBit } from '@vmkit/virtio';
import {
  GuestAllocator,
  VirtioMmioDriver,
  type GuestRequest,
  type GuestVirtqueue,
  type MmioWindow,
  type NegotiateResult,
} from '@vmkit/virtio/testing';
import { VIRTIO_BLK_ID_BYTES, VirtioBlkConfigOffset, VirtioBlkType } from '../constants.js';
import {
  encodeDiscardRanges,
  encodeOutHeader,
  readVirtioBlkConfig,
  type DiscardRange,
  type VirtioBlkConfigInfo,
} from './wire.js';

export interface VirtioBlkDriverOptions {
  /** Guest memory the driver may place rings and buffers in. */
  readonly allocator: GuestAllocator;
  /** Acknowledge interrupts as soon as the line rises (default true). */
  readonly autoAck?: boolean;
}

export interface VirtioBlkInitOptions {
  /** Features to accept: a mask of the offered ones, or a function of them (default: all offered). */
  readonly features?: bigint | ((offered: bigint) => bigint);
  /** Queue size (default: QueueNumMax). */
  readonly queueSize?: number;
  /** Initial ring index (the device must be restored to it, see VirtQueue.restoreIndices). */
  readonly startIndex?: number;
  /** Set DRIVER_OK (default true). */
  readonly driverOk?: boolean;
}

/** How one request is laid out in descriptors. */
export interface BlkLayout {
  /** Descriptor lengths of the device-readable stream (header + payload); any split. */
  readonly outSplit?: readonly number[];
  /** Descriptor lengths of the device-writable stream (data + status byte); any split. */
  readonly inSplit?: readonly number[];
  /** Put the chain in an indirect table. */
  readonly indirect?: boolean;
}

/** A request in any shape, valid or not. */
export interface BlkRequestSpec extends BlkLayout {
  /** `virtio_blk_outhdr.type` (VirtioBlkType, possibly with BARRIER or garbage). */
  readonly type: number;
  readonly sector?: number | bigint;
  readonly ioprio?: number;
  /** Raw device-readable stream replacing header + payload (to send a short header). */
  readonly raw?: Uint8Array;
  /** Device-readable bytes after the header: write data or discard/write-zeroes ranges. */
  readonly payload?: Uint8Array;
  /** Device-writable bytes before the status byte (read data, GET_ID). */
  readonly inLength?: number;
  /** No status byte: the device-writable stream is exactly `inLength` bytes. */
  readonly noStatus?: boolean;
}

/** A submitted request. */
export interface BlkRequest {
  readonly spec: BlkRequestSpec;
  readonly guest: GuestRequest;
  /** Head descriptor index (the used-ring id). */
  readonly head: number;
  /** Total device-writable bytes (what QEMU reports as used length). */
  readonly inTotal: number;
}

/** A completed request as the guest sees it. */
export interface BlkCompletion {
  readonly request: BlkRequest;
  /** Used length reported by the device. */
  readonly len: number;
  /** The status byte (last device-writable byte). */
  readonly status: number;
  /** The device-writable bytes before the status byte. */
  readonly data: Uint8Array;
}

const realSetImmediate: typeof setImmediate = globalThis.setImmediate;
function nextTurn(): Promise<void> {
  return new Promise<void>((resolve) => realSetImmediate(resolve));
}

function sum(values: readonly number[]): number {
  let s = 0;
  for (const v of values) s += v;
  return s;
}

export class VirtioBlkDriver {
  readonly virtio: VirtioMmioDriver;
  readonly memory: GuestMemory;
  private q: GuestVirtqueue | null = null;
  private readonly inFlight = new Map<number, BlkRequest>();
  private readonly done = new Map<BlkRequest, BlkCompletion>();
  /** Completions reaped in the interrupt handler and not yet taken by `takeCompletions`. */
  private readonly unclaimed: BlkCompletion[] = [];
  /** Reap from the interrupt handler (default true); false leaves the used ring alone. */
  reapOnInterrupt = true;
  /** Re-arm used_event when reaping (EVENT_IDX), as virtqueue_enable_cb does. */
  rearm = true;
  /** Called on every rising edge of the interrupt line, after the driver's own handling. */
  onInterrupt: (() => void) | null = null;

  constructor(mmio: MmioWindow, memory: GuestMemory, options: VirtioBlkDriverOptions) {
    this.memory = memory;
    this.virtio = new VirtioMmioDriver(mmio, memory, {
      allocator: options.allocator,
      ...(options.autoAck !== undefined ? { autoAck: options.autoAck } : {}),
    });
  }

  /** Pass this as the transport's interrupt line: counts, acknowledges and reaps. */
  readonly irq = (level: boolean): void => {
    this.virtio.irq(level);
    if (!level) return;
    if (this.reapOnInterrupt && this.q !== null) this.collect();
    this.onInterrupt?.();
  };

  get allocator(): GuestAllocator {
    return this.virtio.allocator;
  }

  /** The request queue (queue 0). */
  get queue(): GuestVirtqueue {
    if (this.q === null) throw new Error('virtio-blk driver: init() first');
    return this.q;
  }

  /** Requests submitted and not reaped. */
  get pending(): number {
    return this.inFlight.size;
  }

  get interrupts(): number {
    return this.virtio.interrupts;
  }

  /** Reset, feature negotiation, queue 0 set up, DRIVER_OK (virtblk_probe). */
  init(options: VirtioBlkInitOptions = {}): NegotiateResult {
    this.inFlight.clear();
    this.done.clear();
    this.unclaimed.length = 0;
    this.q = null;
    const result = this.virtio.negotiate(options.features ?? ~0n);
    if (!result.ok) return result;
    this.q = this.virtio.setupQueue(0, {
      ...(options.queueSize !== undefined ? { size: options.queueSize } : {}),
      ...(options.startIndex !== undefined ? { startIndex: options.startIndex } : {}),
    });
    if (options.driverOk !== false) this.virtio.driverOk();
    return result;
  }

  hasFeature(bit: number): boolean {
    return this.virtio.hasFeature(bit);
  }

  get eventIdx(): boolean {
    return this.hasFeature(VirtioFeature.RING_EVENT_IDX);
  }

  // ---- config space ----

  config(): VirtioBlkConfigInfo {
    return readVirtioBlkConfig(this.virtio);
  }

  /** Capacity in 512-byte sectors as a number. */
  capacity(): number {
    return Number(this.virtio.readConfig64(VirtioBlkConfigOffset.CAPACITY));
  }

  /** Writes the `writeback` config byte (VIRTIO_BLK_F_CONFIG_WCE). */
  setWriteCache(enabled: boolean): void {
    this.virtio.writeConfig8(VirtioBlkConfigOffset.WCE, enabled ? 1 : 0);
  }

  // ---- building requests (no kick) ----

  /** Builds and publishes one request of any shape. */
  submit(spec: BlkRequestSpec): BlkRequest {
    const q = this.queue;
    const out = spec.raw ?? concat(encodeOutHeader(spec.type, spec.sector ?? 0, spec.ioprio), spec.payload);
    const inLength = (spec.inLength ?? 0) + (spec.noStatus === true ? 0 : 1);
    const payloadLength = out.length - 16;
    const outSplit =
      spec.outSplit ?? (spec.raw !== undefined || payloadLength <= 0 ? [out.length] : [16, payloadLength]);
    const dataLength = spec.inLength ?? 0;
    const inSplit =
      spec.inSplit ??
      (spec.noStatus === true ? [dataLength] : dataLength > 0 ? [dataLength, 1] : [1]).filter((n) => n > 0);
    if (sum(inSplit) !== inLength) throw new RangeError('inSplit does not sum to the writable length');
    const guest = q.submit({
      out,
      outSplit: outSplit.filter((n) => n > 0),
      inLength,
      inSplit,
      ...(spec.indirect === true ? { indirect: true } : {}),
    });
    const req: BlkRequest = { spec, guest, head: guest.head, inTotal: inLength };
    this.inFlight.set(guest.head, req);
    return req;
  }

  submitRead(sector: number | bigint, bytes: number, layout: BlkLayout = {}): BlkRequest {
    return this.submit({ type: VirtioBlkType.IN, sector, inLength: bytes, ...layout });
  }

  submitWrite(sector: number | bigint, data: Uint8Array, layout: BlkLayout = {}): BlkRequest {
    return this.submit({ type: VirtioBlkType.OUT, sector, payload: data, ...layout });
  }

  submitFlush(layout: BlkLayout = {}): BlkRequest {
    return this.submit({ type: VirtioBlkType.FLUSH, ...layout });
  }

  submitGetId(length = VIRTIO_BLK_ID_BYTES, layout: BlkLayout = {}): BlkRequest {
    return this.submit({ type: VirtioBlkType.GET_ID, inLength: length, ...layout });
  }

  submitDiscard(ranges: readonly DiscardRange[], layout: BlkLayout = {}): BlkRequest {
    return this.submit({ type: VirtioBlkType.DISCARD, payload: encodeDiscardRanges(ranges), ...layout });
  }

  submitWriteZeroes(ranges: readonly DiscardRange[], layout: BlkLayout = {}): BlkRequest {
    return this.submit({
      type: VirtioBlkType.WRITE_ZEROES,
      payload: encodeDiscardRanges(ranges),
      ...layout,
    });
  }

  /** QueueNotify unconditionally. */
  kick(): void {
    this.queue.kick();
  }

  /** Kicks only if the device asked for it (EVENT_IDX avail_event / NO_NOTIFY). */
  kickIfNeeded(): boolean {
    return this.queue.kickIfNeeded();
  }

  // ---- completions ----

  /**
   * Reaps the used ring now (without waiting) and returns the completions found, in used-ring
   * order, together with those the interrupt handler reaped since the last call.
   */
  takeCompletions(): BlkCompletion[] {
    this.collect();
    const taken = this.unclaimed.splice(0);
    for (const c of taken) this.done.delete(c.request);
    return taken;
  }

  /** The completion of `req` if it was reaped. */
  completion(req: BlkRequest): BlkCompletion | undefined {
    return this.done.get(req);
  }

  /**
   * Waits for `req`: reaps the used ring at every turn of the event loop (so it works with
   * interrupts suppressed too). Throws after `maxTurns` turns.
   */
  async wait(req: BlkRequest, maxTurns = 100_000): Promise<BlkCompletion> {
    for (let i = 0; i < maxTurns; i++) {
      this.collect();
      const c = this.done.get(req);
      if (c !== undefined) {
        this.done.delete(req);
        const at = this.unclaimed.indexOf(c);
        if (at >= 0) this.unclaimed.splice(at, 1);
        return c;
      }
      await nextTurn();
    }
    throw new Error(`virtio-blk driver: request ${req.head} did not complete`);
  }

  /** Waits until every submitted request completed; returns the completions in used-ring order. */
  async settle(maxTurns = 100_000): Promise<BlkCompletion[]> {
    for (let i = 0; i < maxTurns; i++) {
      this.collect();
      if (this.inFlight.size === 0) return this.takeCompletions();
      await nextTurn();
    }
    throw new Error(`virtio-blk driver: ${this.inFlight.size} request(s) did not complete`);
  }

  // ---- one-call helpers (submit, kick, wait) ----

  async read(sector: number | bigint, bytes: number, layout: BlkLayout = {}): Promise<BlkCompletion> {
    return this.run(this.submitRead(sector, bytes, layout));
  }

  async write(sector: number | bigint, data: Uint8Array, layout: BlkLayout = {}): Promise<BlkCompletion> {
    return this.run(this.submitWrite(sector, data, layout));
  }

  async flush(layout: BlkLayout = {}): Promise<BlkCompletion> {
    return this.run(this.submitFlush(layout));
  }

  async getId(length = VIRTIO_BLK_ID_BYTES, layout: BlkLayout = {}): Promise<BlkCompletion> {
    return this.run(this.submitGetId(length, layout));
  }

  async discard(ranges: readonly DiscardRange[], layout: BlkLayout = {}): Promise<BlkCompletion> {
    return this.run(this.submitDiscard(ranges, layout));
  }

  async writeZeroes(ranges: readonly DiscardRange[], layout: BlkLayout = {}): Promise<BlkCompletion> {
    return this.run(this.submitWriteZeroes(ranges, layout));
  }

  /** Submits any request, kicks and waits. */
  async request(spec: BlkRequestSpec): Promise<BlkCompletion> {
    return this.run(this.submit(spec));
  }

  /**
   * Submits several requests, then kicks once (so the device sees them in one pass, where it
   * merges reads or writes) and waits for all of them; completions in submission order.
   */
  async batch(specs: readonly BlkRequestSpec[]): Promise<BlkCompletion[]> {
    const reqs = specs.map((s) => this.submit(s));
    this.kick();
    const out: BlkCompletion[] = [];
    for (const r of reqs) out.push(await this.wait(r));
    return out;
  }

  private async run(req: BlkRequest): Promise<BlkCompletion> {
    this.kick();
    return this.wait(req);
  }

  /** Reaps every used entry: status and data are read before the buffers are reused. */
  private collect(): void {
    const q = this.q;
    if (q === null || q.pendingUsed === 0) return;
    for (const used of q.reap(this.rearm)) {
      const req = this.inFlight.get(used.id);
      if (req === undefined) throw new Error(`virtio-blk driver: used id ${used.id} is not in flight`);
      this.inFlight.delete(used.id);
      const bytes = q.readIn(req.guest);
      const hasStatus = req.spec.noStatus !== true && bytes.length > 0;
      const completion: BlkCompletion = {
        request: req,
        len: used.len,
        status: hasStatus ? bytes[bytes.length - 1] : -1,
        data: hasStatus ? bytes.subarray(0, bytes.length - 1) : bytes,
      };
      this.done.set(req, completion);
      this.unclaimed.push(completion);
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array | undefined): Uint8Array {
  if (b === undefined || b.length === 0) return a;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Accept every offered feature except those listed (e.g. `withoutFeatures(RING_EVENT_IDX)`). */
export function withoutFeatures(...bits: number[]): (offered: bigint) => bigint {
  let mask = 0n;
  for (const b of bits) mask |= featureBit(b);
  return (offered) => offered & ~mask;
}
