/**
 * A small, synchronous blkif backend over an in-memory disk, built only on the backend
 * interfaces of @vmkit/xen-bus and this package's ring module. It is a test double: it lets the
 * Blkfront tests run without a Machine, and it is the simplest possible consumer of BackRing and
 * parseBlkifRequest (the real device is the xen-block dataplane). Requests complete inside the
 * event handler; a ring whose req_prod overflows is halted, as Linux blkback does.
 */
import { type AioContext } from '@vmkit/core';
import {
  readEventChannel,
  readRingRefs,
  XenbusState,
  type XenBackendInterfaces,
  type XenEventChannelPort,
  type XenGrantCopySegment,
  type XenGrantMapping,
  type XenbusStateValue,
} from '@vmkit/xen-bus';
import {
  BackRing,
  BlkifParsedRequest,
  BlkifRequest,
  BlkifStatus,
  BLKIF_MAX_RING_PAGE_ORDER,
  BLKIF_MAX_SEGMENTS_PER_REQUEST,
  BLKIF_PAGE_SIZE,
  BLKIF_SECTOR_SIZE,
  parseBlkifProtocol,
  parseBlkifRequest,
  VDISK_READONLY,
  type BlkifParseError,
} from '../ring/index.js';
import { readKey, readState } from './xenstore-wait.js';

export interface ReferenceBlkbackOptions {
  readonly xen: XenBackendInterfaces;
  /** Where ring events are handled. */
  readonly context: AioContext;
  readonly frontendId: number;
  readonly devid?: number;
  /** The disk (its length a multiple of 512); written in place. */
  readonly disk: Uint8Array;
  readonly sectorSize?: number;
  readonly readOnly?: boolean;
  readonly maxRingPageOrder?: number;
  readonly discard?: boolean;
  /** Ring indexes: 'attach' (default) follows the frontend's start index; 0 is BACK_RING_INIT. */
  readonly ringStart?: 0 | 'attach';
}

const MAX_PASSES_PER_EVENT = 16;

export class ReferenceBlkback {
  readonly backendPath: string;
  readonly frontendPath: string;
  ring: BackRing | undefined;
  port: XenEventChannelPort | undefined;
  mapping: XenGrantMapping | undefined;
  /** Why the last connect failed, or why the ring was halted. */
  lastError: string | undefined;
  halted = false;
  /** Counters. */
  requests = 0;
  flushes = 0;
  notifications = 0;
  readonly parseErrors: BlkifParseError[] = [];
  readonly copyErrors: number[] = [];

  private readonly req = new BlkifRequest();
  private readonly parsed = new BlkifParsedRequest();
  private readonly bounce = new Uint8Array(BLKIF_MAX_SEGMENTS_PER_REQUEST * BLKIF_PAGE_SIZE);
  private readonly segs: XenGrantCopySegment[];
  private readonly token: string;
  private state: XenbusStateValue = XenbusState.Unknown;

  constructor(private readonly options: ReferenceBlkbackOptions) {
    const devid = options.devid ?? 51712;
    const be = options.xen.store.domid;
    this.backendPath = `/local/domain/${be}/backend/qdisk/${options.frontendId}/${devid}`;
    this.frontendPath = `/local/domain/${options.frontendId}/device/vbd/${devid}`;
    this.token = `vmkit-reference-blkback-${options.frontendId}-${devid}`;
    this.segs = Array.from({ length: BLKIF_MAX_SEGMENTS_PER_REQUEST }, () => ({
      domid: options.frontendId,
      ref: 0,
      offset: 0,
      length: 0,
      local: this.bounce,
      status: 0,
    }));
  }

  get backendState(): XenbusStateValue {
    return this.state;
  }

  private get store(): XenBackendInterfaces['store'] {
    return this.options.xen.store;
  }

  /** Creates both areas (as toolstack + XenDevice do), publishes the disk and goes InitWait. */
  realize(): void {
    const { frontendId: fe, disk } = this.options;
    const be = this.store.domid;
    const sectorSize = this.options.sectorSize ?? BLKIF_SECTOR_SIZE;
    this.store.write(this.backendPath, '');
    this.store.setPermissions(this.backendPath, [
      { domid: be, access: 'none' },
      { domid: fe, access: 'read' },
    ]);
    this.store.write(this.frontendPath, '');
    this.store.setPermissions(this.frontendPath, [
      { domid: fe, access: 'none' },
      { domid: be, access: 'both' },
    ]);
    const keys: Record<string, string | number> = {
      frontend: this.frontendPath,
      'frontend-id': fe,
      online: 1,
      'hotplug-status': 'connected',
      sectors: Math.floor(disk.length / BLKIF_SECTOR_SIZE),
      'sector-size': sectorSize,
      info: this.options.readOnly === true ? VDISK_READONLY : 0,
      'feature-flush-cache': 1,
      'max-ring-page-order': this.options.maxRingPageOrder ?? BLKIF_MAX_RING_PAGE_ORDER,
    };
    if (this.options.discard ?? true) {
      keys['feature-discard'] = 1;
      keys['discard-granularity'] = sectorSize;
    }
    for (const [k, v] of Object.entries(keys)) this.store.write(`${this.backendPath}/${k}`, String(v));
    this.store.write(`${this.frontendPath}/backend`, this.backendPath);
    this.store.write(`${this.frontendPath}/backend-id`, String(be));
    this.store.write(`${this.frontendPath}/state`, String(XenbusState.Initialising));
    this.setState(XenbusState.InitWait);
    this.store.watch(`${this.frontendPath}/state`, this.token, () => this.frontendChanged());
  }

  /** Disconnects and removes both areas. */
  unrealize(): void {
    this.store.unwatch(`${this.frontendPath}/state`, this.token);
    this.disconnect();
    this.store.rm(this.frontendPath);
    this.store.rm(this.backendPath);
  }

  private setState(state: XenbusStateValue): void {
    this.state = state;
    this.store.write(`${this.backendPath}/state`, String(state));
  }

  private frontendChanged(): void {
    const fs = readState(this.store, `${this.frontendPath}/state`);
    switch (fs) {
      case XenbusState.Initialising:
        if (this.state === XenbusState.Closed) this.setState(XenbusState.InitWait);
        return;
      case XenbusState.Initialised:
      case XenbusState.Connected:
        if (this.state !== XenbusState.Connected) this.connect();
        return;
      case XenbusState.Closing:
        this.setState(XenbusState.Closing);
        return;
      case XenbusState.Closed:
      case XenbusState.Unknown:
        this.disconnect();
        this.setState(XenbusState.Closed);
        return;
      default:
        return;
    }
  }

  private connect(): void {
    const read = (k: string): string | undefined => readKey(this.store, `${this.frontendPath}/${k}`);
    const { xen, frontendId } = this.options;
    try {
      const refs = readRingRefs(read, this.options.maxRingPageOrder ?? BLKIF_MAX_RING_PAGE_ORDER);
      const evtchn = readEventChannel(read);
      const protocol = parseBlkifProtocol(read('protocol'));
      if (protocol === undefined) throw new Error(`unknown protocol '${read('protocol')}'`);
      const mapping = xen.grantTables.mapRefs(frontendId, refs, true);
      if (typeof mapping === 'number') throw new Error(`mapping the ring failed (${mapping})`);
      const port = xen.eventChannels.bindInterdomain(frontendId, evtchn);
      if (typeof port === 'number') {
        xen.grantTables.unmap(mapping);
        throw new Error(`binding the event channel failed (${port})`);
      }
      this.mapping = mapping;
      this.ring = new BackRing(mapping.bytes, protocol, { start: this.options.ringStart ?? 'attach' });
      this.port = port;
      this.halted = false;
      port.setHandler(this.options.context, () => this.process());
      this.lastError = undefined;
      this.setState(XenbusState.Connected);
    } catch (e) {
      this.lastError = e instanceof Error ? e.message : String(e);
    }
  }

  private disconnect(): void {
    this.port?.unbind();
    if (this.mapping !== undefined) this.options.xen.grantTables.unmap(this.mapping);
    this.port = undefined;
    this.mapping = undefined;
    this.ring = undefined;
  }

  /** One event: passes until the ring is idle (bounded; more work goes to a later turn). */
  process(): void {
    const ring = this.ring;
    if (ring === undefined || this.halted) return;
    for (let pass = 0; pass < MAX_PASSES_PER_EVENT; pass++) {
      ring.beginPass();
      if (ring.producerOverflow) {
        this.halted = true;
        this.lastError = `req_prod ${ring.sring.reqProd} overflows the ring (rsp_prod_pvt ${ring.rspProdPvt})`;
        return;
      }
      while (ring.takeRequest(this.req)) {
        this.requests++;
        ring.respond(this.req, this.execute());
      }
      if (ring.pushResponsesAndCheckNotify()) {
        this.port!.notify();
        this.notifications++;
      }
      if (!ring.checkForMoreRequests()) return;
    }
    this.options.context.scheduleOneshot(() => this.process());
  }

  private execute(): number {
    const disk = this.options.disk;
    const r = parseBlkifRequest(
      this.req,
      {
        length: disk.length,
        sectorSize: this.options.sectorSize ?? BLKIF_SECTOR_SIZE,
        readOnly: this.options.readOnly === true,
      },
      this.parsed,
    );
    if (typeof r === 'string') {
      this.parseErrors.push(r);
      return BlkifStatus.ERROR;
    }
    switch (r.action) {
      case 'read':
        this.bounce.set(disk.subarray(r.start, r.start + r.size));
        return this.copy('to-guest', r) ? BlkifStatus.OKAY : BlkifStatus.ERROR;
      case 'flush':
      case 'write':
        // A flush comes first (presync); a flush with segments then writes them.
        if (r.presync) this.flushes++;
        if (r.size === 0) return BlkifStatus.OKAY;
        if (!this.copy('from-guest', r)) return BlkifStatus.ERROR;
        disk.set(this.bounce.subarray(0, r.size), r.start);
        return BlkifStatus.OKAY;
      case 'discard': {
        if (this.options.readOnly === true) return BlkifStatus.ERROR;
        const end = r.discardOffset + r.discardBytes;
        if (end > BigInt(disk.length)) return BlkifStatus.ERROR;
        disk.fill(0, Number(r.discardOffset), Number(end));
        return BlkifStatus.OKAY;
      }
    }
  }

  // Grant copy between the bounce buffer and the request's pages (xen_block_copy_request).
  private copy(direction: 'to-guest' | 'from-guest', r: BlkifParsedRequest): boolean {
    let at = 0;
    for (let i = 0; i < r.segmentCount; i++) {
      const s = this.segs[i];
      s.ref = this.req.segments[i].gref;
      s.offset = r.segmentOffset[i]!;
      s.length = r.segmentLength[i]!;
      s.local = this.bounce.subarray(at, at + s.length);
      at += s.length;
    }
    const rc = this.options.xen.grantTables.copy(direction, this.segs, r.segmentCount);
    if (rc !== 0) this.copyErrors.push(rc);
    return rc === 0;
  }
}
