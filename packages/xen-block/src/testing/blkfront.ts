/**
 * A guest blkfront driver built only on the frontend side of @vmkit/xen-bus (XenGuestDomain:
 * its memory, grant table, event channels and its own xenstore view), following Linux
 * xen-blkfront: ring pages granted to the backend, an unbound port, `ring-ref`/`ring-refN` +
 * `ring-page-order`, `event-channel`, `protocol`, and the XenbusState handshake. Data pages are
 * granted per request (read-only for writes, writable for reads). Besides read/write/flush/
 * discard it submits raw requests (any op, any segments, any grant) for hostile tests.
 */
import { XenbusState, type XenGuestDomain, type XenStore, type XenbusStateValue } from '@vmkit/xen-bus';
import {
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_PAGE_SIZE,
  BLKIF_SECTOR_SIZE,
  BLKIF_SECTORS_PER_PAGE,
  BlkifOp,
  BlkifStatus,
  VDISK_READONLY,
  type BlkifProtocol,
} from '../ring/index.js';
import { BlkfrontIoError, DataPages, type DataPage } from './data-pages.js';
import { GuestFrameAllocator } from './frame-allocator.js';
import { FrontRing, type BlkifResponse, type FrontRequest } from './front-ring.js';
import { readKey, readState, waitForWatch, writeKeys } from './xenstore-wait.js';
import {
  decimal,
  type BlkfrontInfo,
  type BlkfrontOptions,
  type BlkfrontRequest,
  type SubmitOptions,
} from './blkfront-options.js';

interface Pending {
  readonly resolve: (rsp: BlkifResponse) => void;
  readonly reject: (e: Error) => void;
}

interface Queued extends Pending {
  readonly req: FrontRequest;
}

/** Most 512-byte sectors one direct request carries. */
export const BLKFRONT_MAX_SECTORS = BLKIF_MAX_SEGMENTS_PER_REQUEST * BLKIF_SECTORS_PER_PAGE;

export class Blkfront {
  readonly path: string;
  readonly protocol: BlkifProtocol;
  readonly frames: GuestFrameAllocator;
  readonly pages: DataPages;
  backendPath: string | undefined;
  backendId: number | undefined;
  ring: FrontRing | undefined;
  readonly ringRefs: number[] = [];
  ringPageOrder = 0;
  port = -1;
  info: BlkfrontInfo | undefined;
  /** Event-channel notifications sent to the backend, and received from it. */
  notificationsSent = 0;
  interrupts = 0;
  /** Responses whose id matched nothing in flight. */
  readonly unexpectedResponses: BlkifResponse[] = [];
  /** Ring grants the backend still held at teardown (their frames are never reused). */
  readonly leakedRingRefs: number[] = [];
  /** Set when the backend broke the ring protocol (e.g. published too many responses). */
  backendError: Error | undefined;
  /**
   * When set, backend notifications call this instead of processResponses(): a load generator
   * (BlkfrontStream) that reaps the ring itself.
   */
  responseHook: (() => void) | null = null;

  private readonly inflight = new Map<bigint, Pending>();
  private readonly queue: Queued[] = [];
  private nextId: bigint;
  private ringFrame = -1;
  private readonly handle: number;

  constructor(
    readonly guest: XenGuestDomain,
    private readonly options: BlkfrontOptions = {},
  ) {
    const devid = options.devid ?? 51712;
    this.path = options.path ?? `/local/domain/${guest.domid}/device/vbd/${devid}`;
    this.protocol = options.protocol ?? 'native';
    this.handle = options.handle ?? Number(devid) & 0xffff;
    this.nextId = options.idBase ?? 0xfeed_0000_0000_0001n;
    let range = options.frames;
    if (range === undefined) {
      const region = guest.memory.regions[0];
      if (region === undefined) throw new RangeError('Blkfront: the guest has no memory');
      const first = Math.ceil(region.gpa / BLKIF_PAGE_SIZE) + 16;
      range = { first, count: Math.floor(region.end / BLKIF_PAGE_SIZE) - first };
    }
    this.frames = new GuestFrameAllocator(range.first, range.count);
    this.pages = new DataPages(guest, this.frames, () => this.backendId ?? 0);
  }

  get store(): XenStore {
    return this.guest.store;
  }
  /** This frontend's published state. */
  get state(): XenbusStateValue {
    return readState(this.store, `${this.path}/state`);
  }
  get backendState(): XenbusStateValue {
    return this.backendPath === undefined
      ? XenbusState.Unknown
      : readState(this.store, `${this.backendPath}/state`);
  }
  /** Requests pushed and not answered, plus those waiting for a free slot. */
  get inFlight(): number {
    return this.inflight.size;
  }
  get queued(): number {
    return this.queue.length;
  }

  setState(state: XenbusStateValue): number {
    return this.store.write(`${this.path}/state`, String(state));
  }

  /** The handshake up to Initialised: waits for the backend's InitWait, publishes ring and port. */
  async initialise(): Promise<void> {
    const store = this.store;
    this.backendPath = await waitForWatch(store, `${this.path}/backend`, () =>
      readKey(store, `${this.path}/backend`),
    );
    this.backendId = decimal(readKey(store, `${this.path}/backend-id`)) ?? 0;
    if (this.state !== XenbusState.Initialising) this.setState(XenbusState.Initialising);
    await this.waitBackend((s) => s === XenbusState.InitWait, 'InitWait');

    const maxOrder = decimal(readKey(store, `${this.backendPath}/max-ring-page-order`)) ?? 0;
    const wanted = this.options.ringPageOrder ?? 0;
    const order = this.options.forceRingPageOrder === true ? wanted : Math.min(wanted, maxOrder);
    this.setupRing(order);

    const keys: Record<string, string> = {};
    if (order === 0 && this.options.forceRingPageOrder !== true) {
      keys['ring-ref'] = String(this.ringRefs[0]);
    } else {
      keys['ring-page-order'] = String(order);
      this.ringRefs.forEach((ref, i) => (keys[`ring-ref${i}`] = String(ref)));
    }
    keys['event-channel'] = String(this.port);
    const protocolKey =
      this.options.protocolKey === undefined ? this.defaultProtocolKey() : this.options.protocolKey;
    if (protocolKey !== null) keys['protocol'] = protocolKey;
    Object.assign(keys, this.options.extraKeys ?? {});
    // Keys a previous connection may have left behind must not mix with these.
    const stale = [
      'ring-ref',
      'ring-page-order',
      'protocol',
      ...Array.from({ length: 16 }, (_, i) => `ring-ref${i}`),
    ];
    const rc = writeKeys(
      store,
      this.path,
      keys,
      stale.filter((k) => !(k in keys)),
    );
    if (rc < 0) throw new Error(`blkfront: writing the ring details failed (${rc})`);
    this.setState(XenbusState.Initialised);
  }

  /** Waits for the backend's Connected, reads the disk's details and goes Connected. */
  async waitConnected(): Promise<BlkfrontInfo> {
    await this.waitBackend((s) => s === XenbusState.Connected, 'Connected');
    const be = this.backendPath!;
    const key = (k: string): string | undefined => readKey(this.store, `${be}/${k}`);
    const info = decimal(key('info')) ?? 0;
    this.info = {
      sectors: decimal(key('sectors')) ?? 0,
      sectorSize: decimal(key('sector-size')) ?? BLKIF_SECTOR_SIZE,
      info,
      readOnly: (info & VDISK_READONLY) !== 0,
      featureFlushCache: decimal(key('feature-flush-cache')) === 1,
      featureDiscard: decimal(key('feature-discard')) === 1,
      discardGranularity: decimal(key('discard-granularity')),
      discardAlignment: decimal(key('discard-alignment')),
      discardSecure: decimal(key('discard-secure')) === 1,
      maxRingPageOrder: decimal(key('max-ring-page-order')) ?? 0,
      ringPageOrder: this.ringPageOrder,
      ringSize: this.ring!.size,
      protocol: this.protocol,
    };
    this.setState(XenbusState.Connected);
    return this.info;
  }

  async connect(): Promise<BlkfrontInfo> {
    await this.initialise();
    return this.waitConnected();
  }

  /**
   * Closing, then Closed once the backend follows; then ends the ring grants and the port.
   * Requests still in flight are rejected.
   */
  async close(): Promise<void> {
    if (this.backendPath !== undefined) {
      this.setState(XenbusState.Closing);
      await this.waitBackend((s) => s === XenbusState.Closing || s === XenbusState.Closed, 'Closing', false);
      this.setState(XenbusState.Closed);
      await this.waitBackend((s) => s === XenbusState.Closed, 'Closed', false);
    }
    this.teardown();
  }

  /** Frees the ring, its grants and the port without any handshake (a crashed guest). */
  teardown(): void {
    const err = new Error('blkfront: closed');
    for (const q of this.queue.splice(0)) q.reject(err);
    for (const p of this.inflight.values()) p.reject(err);
    this.inflight.clear();
    if (this.port >= 0) {
      this.guest.setPortHandler(this.port, null);
      this.guest.closePort(this.port);
      this.port = -1;
    }
    let leaked = false;
    for (const ref of this.ringRefs.splice(0)) {
      // A backend that still maps the ring keeps the grant busy: the pages must not be reused.
      if (this.guest.revokeAccess(ref) < 0) {
        this.leakedRingRefs.push(ref);
        leaked = true;
      }
    }
    if (this.ringFrame >= 0 && !leaked) this.frames.free(this.ringFrame, 1 << this.ringPageOrder);
    this.ringFrame = -1;
    this.ring = undefined;
  }

  // ---- I/O ----

  /**
   * Pushes a raw request; resolves with its response (any status). Waits for a free slot when
   * the ring is full. Rejects when the id is already in flight or the driver is closed.
   */
  submit(req: BlkfrontRequest, options: SubmitOptions = {}): Promise<BlkifResponse> {
    const full: FrontRequest = { ...req, id: req.id ?? this.nextId++, handle: req.handle ?? this.handle };
    return new Promise<BlkifResponse>((resolve, reject) => {
      if (this.ring === undefined) return reject(new Error('blkfront: not initialised'));
      if (this.inflight.has(full.id) || this.queue.some((q) => q.req.id === full.id)) {
        return reject(new Error(`blkfront: request id ${full.id} is already in flight`));
      }
      this.queue.push({ req: full, resolve, reject });
      this.pump(options.publish ?? true);
    });
  }

  /** RING_PUSH_REQUESTS_AND_CHECK_NOTIFY, notifying the backend when it asked. */
  publish(): boolean {
    const ring = this.ring;
    if (ring === undefined) return false;
    if (!ring.pushRequestsAndCheckNotify()) return false;
    this.guest.notify(this.port);
    this.notificationsSent++;
    return true;
  }

  /** Sends a notification whether or not the backend asked for one. */
  notify(): void {
    this.guest.notify(this.port);
    this.notificationsSent++;
  }

  /** Reads `count` 512-byte sectors from `sector` (split into requests of ≤ 88 sectors). */
  async read(sector: number, count: number): Promise<Uint8Array> {
    const out = new Uint8Array(count * BLKIF_SECTOR_SIZE);
    await this.chunks(sector, count, (s, n, at) => this.transfer(BlkifOp.READ, s, n, out, at));
    return out;
  }

  /** Writes `data` (a multiple of 512 bytes) at `sector`. */
  async write(sector: number, data: Uint8Array): Promise<void> {
    if (data.length % BLKIF_SECTOR_SIZE !== 0) throw new RangeError('blkfront: write of a partial sector');
    await this.chunks(sector, data.length / BLKIF_SECTOR_SIZE, (s, n, at) =>
      this.transfer(BlkifOp.WRITE, s, n, data, at),
    );
  }

  /** FLUSH_DISKCACHE without segments. */
  async flush(): Promise<void> {
    this.check(await this.submit({ operation: BlkifOp.FLUSH_DISKCACHE }));
  }

  /** DISCARD of `count` sectors at `sector`. */
  async discard(
    sector: number | bigint,
    count: number | bigint,
    options: { secure?: boolean } = {},
  ): Promise<void> {
    this.check(
      await this.submit({
        operation: BlkifOp.DISCARD,
        sector,
        nrSectors: count,
        flag: options.secure ? 1 : 0,
      }),
    );
  }

  /** A page granted to the backend (read-only or writable), optionally filled. */
  allocDataPage(readonly: boolean, contents?: Uint8Array): DataPage {
    return this.pages.alloc(readonly, contents);
  }
  /** Ends the grant and frees the frame; false when the backend still maps it (kept as a leak). */
  freeDataPage(page: DataPage): boolean {
    return this.pages.free(page);
  }
  /** The page's current bytes (a copy). */
  readDataPage(page: DataPage): Uint8Array {
    return this.pages.read(page);
  }

  /** Reaps responses now (normally done on each notification from the backend). */
  processResponses(): void {
    const ring = this.ring;
    if (ring === undefined) return;
    try {
      for (;;) {
        for (const rsp of ring.takeResponses()) {
          const p = this.inflight.get(rsp.id);
          if (p === undefined) {
            this.unexpectedResponses.push(rsp);
            continue;
          }
          this.inflight.delete(rsp.id);
          p.resolve(rsp);
        }
        if (ring.finalCheckForResponses() === 0) break;
      }
    } catch (e) {
      this.backendError = e instanceof Error ? e : new Error(String(e));
      return;
    }
    this.pump(true);
  }

  // ---- internals ----

  private defaultProtocolKey(): string | null {
    return this.protocol === 'native' ? null : this.protocol;
  }

  private setupRing(order: number): void {
    const pages = 1 << order;
    const frame = this.frames.alloc(pages);
    const gpa = frame * BLKIF_PAGE_SIZE;
    this.guest.memory.fill(gpa, pages * BLKIF_PAGE_SIZE, 0);
    this.ringFrame = frame;
    this.ringPageOrder = order;
    // Contiguous frames in one region: the backend's mapping aliases this very view.
    this.ring = new FrontRing(this.guest.memory.view(gpa, pages * BLKIF_PAGE_SIZE), this.protocol, {
      start: this.options.ringStart ?? 0,
    });
    for (let i = 0; i < pages; i++) {
      const ref = this.guest.grantAccess(frame + i, this.backendId!, false);
      if (ref < 0) throw new Error(`blkfront: granting ring page ${i} failed (${ref})`);
      this.ringRefs.push(ref);
    }
    this.port = this.guest.allocUnboundPort(this.backendId!);
    if (this.port < 0) throw new Error(`blkfront: allocating an event channel failed (${this.port})`);
    this.guest.setPortHandler(this.port, () => {
      this.interrupts++;
      if (this.responseHook !== null) this.responseHook();
      else this.processResponses();
    });
  }

  private waitBackend(
    accept: (s: XenbusStateValue) => boolean,
    what: string,
    failOnClose = true,
  ): Promise<void> {
    const path = `${this.backendPath!}/state`;
    return waitForWatch(this.store, path, () => {
      const s = readState(this.store, path);
      if (accept(s)) return true;
      if (failOnClose && (s === XenbusState.Closing || s === XenbusState.Closed)) {
        throw new Error(`blkfront: backend went to state ${s} while waiting for ${what}`);
      }
      return undefined;
    }).then(() => undefined);
  }

  private pump(publish: boolean): void {
    const ring = this.ring;
    if (ring === undefined) return;
    let pushed = false;
    while (this.queue.length > 0 && !ring.full) {
      const q = this.queue.shift()!;
      ring.pushRequest(q.req);
      this.inflight.set(q.req.id, q);
      pushed = true;
    }
    if (pushed && publish) this.publish();
  }

  private check(rsp: BlkifResponse): void {
    if (rsp.status !== BlkifStatus.OKAY) throw new BlkfrontIoError(rsp);
  }

  private async chunks(
    sector: number,
    count: number,
    each: (sector: number, n: number, byteOffset: number) => Promise<void>,
  ): Promise<void> {
    const all: Promise<void>[] = [];
    for (let done = 0; done < count; done += BLKFRONT_MAX_SECTORS) {
      const n = Math.min(BLKFRONT_MAX_SECTORS, count - done);
      all.push(each(sector + done, n, done * BLKIF_SECTOR_SIZE));
    }
    const results = await Promise.allSettled(all);
    for (const r of results) if (r.status === 'rejected') throw r.reason;
  }

  // One request of up to 88 sectors: a granted page per 8 sectors.
  private async transfer(op: number, sector: number, n: number, buf: Uint8Array, at: number): Promise<void> {
    const isRead = op === BlkifOp.READ;
    const pages: DataPage[] = [];
    try {
      for (let done = 0; done < n; done += BLKIF_SECTORS_PER_PAGE) {
        const bytes = Math.min(BLKIF_SECTORS_PER_PAGE, n - done) * BLKIF_SECTOR_SIZE;
        const from = at + done * BLKIF_SECTOR_SIZE;
        pages.push(this.pages.alloc(!isRead, isRead ? undefined : buf.subarray(from, from + bytes)));
      }
      const segments = pages.map((p, i) => ({
        gref: p.gref,
        firstSect: 0,
        lastSect: Math.min(BLKIF_SECTORS_PER_PAGE, n - i * BLKIF_SECTORS_PER_PAGE) - 1,
      }));
      this.check(await this.submit({ operation: op, sector, segments }));
      if (isRead) {
        pages.forEach((p, i) => {
          const bytes = (segments[i].lastSect + 1) * BLKIF_SECTOR_SIZE;
          this.guest.memory.read(
            p.gpa,
            buf.subarray(at + i * BLKIF_PAGE_SIZE, at + i * BLKIF_PAGE_SIZE + bytes),
          );
        });
      }
    } finally {
      for (const p of pages) this.pages.free(p);
    }
  }
}
