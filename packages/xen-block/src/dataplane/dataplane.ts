/**
 * The xen-block dataplane (QEMU hw/block/dataplane/xen-block.c): maps the frontend's ring, binds
 * its event channel in the dataplane's AioContext (an IOThread or the main loop), takes requests
 * off the ring, runs them on the BlockBackend and answers on the ring. The per-request I/O
 * (grant copy, presync flush, discard split, completion) is in request-io.ts.
 *
 * Rules kept from QEMU: requests are copied out of the ring before parsing; at most ring-size
 * request structs exist and are reused; a request that cannot get a struct leaves `moreWork`
 * set and a completion reschedules the bottom half; submissions are batched between
 * deferCallBegin/End when more than IO_PLUG_THRESHOLD requests were in flight on entry; the
 * ring is re-armed (RING_FINAL_CHECK_FOR_REQUESTS) when it goes idle; the frontend is notified
 * only when RING_PUSH_RESPONSES_AND_CHECK_NOTIFY says so. In a drained section the event channel
 * is detached and nothing is taken from the ring; the end of the section re-attaches it and
 * re-checks the ring once.
 *
 * Responses are batched: each completion writes its response slot at once (rsp_prod_pvt++), but
 * `rsp_prod` is published, the notification decided and the ring re-checked for more requests
 * once per run of completions (QEMU does all three per response in xen_block_send_response).
 * The run ends when nothing is left in flight, or else at the publish bottom half. A pass that
 * leaves requests in flight schedules it, so it runs behind the completions the BlockBackend
 * queued in the context meanwhile and publishes them in their own turn; the first unpublished
 * response schedules it too (completions from elsewhere). The frontend sees the same responses
 * and gets a notification whenever `rsp_event` falls in the published range: exactly
 * RING_PUSH_RESPONSES_AND_CHECK_NOTIFY over the batch.
 *
 * After notifying the frontend, a pass is scheduled (a poll of the ring, as QEMU's AioContext
 * polling runs xen_device_poll): it runs behind the frontend's interrupt handler when both
 * share a context, taking the requests that handler publishes a turn before their notification
 * would. A pass that finds nothing published stops at once.
 */
import { trace, type AioContext, type BottomHalf } from '@vmkit/core';
import { BlockAcctType, Perm, type BlockBackend } from '@vmkit/block-layer';
import type { XenEventChannelPort, XenGrantMapping } from '@vmkit/xen-bus';
import {
  BackRing,
  blkifAccounting,
  blkifLayout,
  BlkifStatus,
  BLKIF_PAGE_SIZE,
  constRingSize,
  parseBlkifRequest,
  type BlkifDisk,
  type BlkifProtocol,
} from '../ring/index.js';
import type { XenBlockDataPlaneHost } from './host.js';
import { XenBlockRequest, type XenBlockRequestOwner } from './request.js';
import { completeAio, doAio } from './request-io.js';

/**
 * More requests in flight than this when a pass starts means the bottleneck is below us:
 * batch submissions (QEMU IO_PLUG_THRESHOLD).
 */
export const IO_PLUG_THRESHOLD = 1;

export interface XenBlockDataPlaneOptions {
  readonly host: XenBlockDataPlaneHost;
  readonly blk: BlockBackend;
  /** The disk's logical sector size (`sector-size`). */
  readonly sectorSize: number;
  /** Where the ring is served: the device's IOThread, or the main context. */
  readonly ctx: AioContext;
  /** The machine's main context: where the BlockBackend goes back to when stopped. */
  readonly mainContext: AioContext;
}

/** The parts of a started dataplane (all set together, all cleared together). */
interface Connection {
  readonly ring: BackRing;
  readonly mapping: XenGrantMapping;
  readonly channel: XenEventChannelPort;
}

export class XenBlockDataPlane implements XenBlockRequestOwner {
  readonly host: XenBlockDataPlaneHost;
  readonly blk: BlockBackend;
  readonly ctx: AioContext;
  readonly mainContext: AioContext;
  readonly sectorSize: number;
  /** The frontend's ABI while started. */
  protocol: BlkifProtocol = 'native';
  /** Ring size while started (QEMU max_requests): the most request structs that may exist. */
  maxRequests = 0;
  /** Request structs created (QEMU requests_total). */
  requestsTotal = 0;
  /** Requests taken off the ring and not answered yet (QEMU requests_inflight). */
  requestsInflight = 0;
  /** Set when a pass or a response saw more requests waiting (QEMU more_work). */
  moreWork = 0;
  /** Event-channel notifications sent to the frontend. */
  notifications = 0;
  /** Times `rsp_prod` was published with new responses (each a RING_PUSH_RESPONSES_AND_CHECK_NOTIFY). */
  responsePublications = 0;

  /** @internal What request-io.ts needs of the disk, refreshed at each pass. */
  readonly disk: { length: number; sectorSize: number; readOnly: boolean } & BlkifDisk;

  private conn: Connection | null = null;
  /** The accounting clock read once per pass (-1 outside a pass or before the first use). */
  private passTime = -1;
  private inPass = false;
  private stopping = false;
  private readonly free: XenBlockRequest[] = [];
  private readonly bh: BottomHalf;
  /** Responses written on the ring and not yet published (rsp_prod_pvt - rsp_prod). */
  private unpublished = 0;
  private readonly publishBh: BottomHalf;

  constructor(options: XenBlockDataPlaneOptions) {
    this.host = options.host;
    this.blk = options.blk;
    this.ctx = options.ctx;
    this.mainContext = options.mainContext;
    this.sectorSize = options.sectorSize;
    this.disk = { length: 0, sectorSize: options.sectorSize, readOnly: false };
    this.bh = this.ctx.bh(this.onBh, `xen-block:${this.host.id}`);
    this.publishBh = this.ctx.bh(this.onPublishBh, `xen-block:${this.host.id}:responses`);
  }

  /** Whether a ring is mapped and served. */
  get started(): boolean {
    return this.conn !== null;
  }

  /** The mapped ring while started (for diagnostics). */
  get ring(): BackRing | null {
    return this.conn?.ring ?? null;
  }

  // ---- lifecycle ---------------------------------------------------------------------------

  /**
   * xen_block_dataplane_start: maps the ring (one contiguous view of `ringRefs`), binds the
   * event channel, moves the BlockBackend into the dataplane's context and, unless the
   * BlockBackend is drained, starts listening. Throws (XenDeviceError from the host) with
   * everything undone when the frontend's details are unusable.
   */
  start(ringRefs: readonly number[], eventChannel: number, protocol: BlkifProtocol): void {
    if (this.conn !== null) throw new Error(`xen-block '${this.host.id}': dataplane already started`);
    const host = this.host;
    const maxRequests = constRingSize(blkifLayout(protocol), BLKIF_PAGE_SIZE * ringRefs.length);
    host.setMaxGrantRefs(ringRefs.length);
    const mapping = host.mapGrantRefs(ringRefs, true);
    let channel: XenEventChannelPort;
    try {
      channel = host.bindEventChannel(eventChannel, this.onEvent, this.ctx);
    } catch (e) {
      host.unmapGrantRefs(mapping);
      throw e;
    }
    // Until we know we may listen: delivery is by bottom half, so nothing ran in between.
    host.setEventChannelContext(channel, null);
    // Resume from the frontend's published rsp_prod (BACK_RING_ATTACH): the same as QEMU's
    // BACK_RING_INIT for a freshly initialised ring, and right for one that starts elsewhere.
    const ring = new BackRing(mapping.bytes, protocol, { start: 'attach' });
    this.protocol = protocol;
    this.maxRequests = maxRequests;
    this.trimPool();
    this.unpublished = 0;
    this.conn = { ring, mapping, channel };
    try {
      // If other users keep the BlockBackend where it is, requests still work from there.
      this.blk.setAioContext(this.ctx);
    } catch (e) {
      this.report('cannot move the drive to the dataplane context', e);
    }
    // A frontend may have published requests before we listened: look once.
    if (!this.blk.inDrain) this.resume();
  }

  /**
   * xen_block_dataplane_stop: stops listening, lets the requests in flight complete (their
   * responses still go to the ring), moves the BlockBackend back to the main context, then
   * unbinds and unmaps. Harmless when not started.
   */
  async stop(): Promise<void> {
    const conn = this.conn;
    if (conn === null) return;
    this.stopping = true;
    try {
      if (!this.blk.inDrain) this.detach();
      await this.ctx.waitWhile(this.hasInflight);
      // The last completion published everything; this only guards the invariant.
      this.publishResponses();
      try {
        this.blk.setAioContext(this.mainContext);
      } catch (e) {
        this.report('cannot move the drive back to the main context', e);
      }
      this.bh.cancel();
      this.publishBh.cancel();
      this.conn = null;
      try {
        this.host.unbindEventChannel(conn.channel);
      } catch (e) {
        this.report('unbinding the event channel failed', e);
      }
      try {
        this.host.unmapGrantRefs(conn.mapping);
      } catch (e) {
        this.report('unmapping the ring failed', e);
      }
    } finally {
      this.stopping = false;
    }
  }

  /** xen_block_dataplane_destroy: after stop(); frees the request structs and the bottom half. */
  destroy(): void {
    this.bh.delete();
    this.publishBh.delete();
    this.requestsTotal -= this.free.length;
    this.free.length = 0;
  }

  /** xen_block_dataplane_attach: deliver ring notifications in the dataplane's context. */
  attach(): void {
    const conn = this.conn;
    if (conn !== null) this.host.setEventChannelContext(conn.channel, this.ctx);
  }

  /** xen_block_dataplane_detach: keep the channel bound but stop delivery (drained sections). */
  detach(): void {
    const conn = this.conn;
    if (conn !== null) this.host.setEventChannelContext(conn.channel, null);
  }

  /** The end of a drained section: listen again and look at the ring once (work may be waiting). */
  resume(): void {
    if (this.conn === null || this.stopping) return;
    this.attach();
    this.bh.schedule();
  }

  // ---- the ring ----------------------------------------------------------------------------

  /**
   * xen_block_handle_requests: one pass over the requests published so far. Returns whether
   * any request was taken.
   */
  handleRequests(): boolean {
    const conn = this.conn;
    if (conn === null || this.stopping || this.blk.inDrain) return false;
    const ring = conn.ring;
    this.moreWork = 0;
    // Nothing published since the last pass (a notification for requests a poll pass already
    // took, or a poll finding nothing): nothing else to do.
    if (ring.beginPass() === 0) return false;
    const blk = this.blk;
    const disk = this.disk;
    disk.length = blk.bs?.totalBytes ?? 0;
    disk.readOnly = (blk.perm & Perm.WRITE) === 0;

    const inflightAtStart = this.requestsInflight;
    const batch = inflightAtStart > IO_PLUG_THRESHOLD;
    let batched = 0;
    let doneSomething = false;
    if (batch) this.ctx.deferCallBegin();
    this.inPass = true;
    try {
      while (ring.hasRequest()) {
        const request = this.startRequest();
        if (request === undefined) {
          this.moreWork++;
          break;
        }
        ring.takeNext(request.req);
        doneSomething = true;
        const parsed = parseBlkifRequest(request.req, disk, request.parsed);
        if (typeof parsed === 'string') {
          trace('xen-block', 'parse-error', { id: this.host.id, reason: parsed });
          this.accountInvalid(request.req.operation);
          request.status = BlkifStatus.ERROR;
          this.completeRequest(request);
          continue;
        }
        request.presync = parsed.presync;
        if (batch && batched >= inflightAtStart) this.ctx.deferCallEnd();
        doAio(this, request);
        if (batch) {
          if (batched >= inflightAtStart) {
            this.ctx.deferCallBegin();
            batched = 0;
          } else {
            batched++;
          }
        }
      }
    } finally {
      this.inPass = false;
      this.passTime = -1;
      if (batch) this.ctx.deferCallEnd();
    }
    // Responses answered within the pass (parse errors) are published with the pass.
    if (this.unpublished !== 0) this.endOfBatch();
    // Completions the BlockBackend delivers from bottom halves of this context are now queued:
    // the publish BH queued behind them publishes their whole batch in the same turn, instead
    // of a turn later (like virtio-blk's expectCompletions).
    if (this.requestsInflight !== 0) this.publishBh.schedule();
    return doneSomething;
  }

  /** @internal The start time for block accounting: read once per pass, else now. */
  acctNow(): number {
    if (this.passTime >= 0) return this.passTime;
    const now = this.blk.stats.clock.now();
    if (this.inPass) this.passTime = now;
    return now;
  }

  /** @internal xen_block_complete_aio (called through the shared completion function). */
  aioComplete(request: XenBlockRequest, ret: number): void {
    completeAio(this, request, ret);
  }

  /**
   * @internal xen_block_complete_request: writes the response on the ring and returns the struct
   * to the free list. The response is published (and the frontend notified if it asked) with
   * the rest of its batch: now if nothing else is in flight, else from the publish BH.
   */
  completeRequest(request: XenBlockRequest): void {
    const conn = this.conn;
    if (conn !== null) {
      conn.ring.respond(request.req, request.status);
      this.unpublished++;
    }
    this.requestsInflight--;
    request.reset();
    this.free.push(request);
    if (!this.inPass && this.unpublished !== 0) this.endOfBatch();
  }

  // Publish now when no other completion can join the batch, else once the queued ones ran.
  private endOfBatch(): void {
    if (this.requestsInflight === 0) this.publishResponses();
    else this.publishBh.schedule();
  }

  /**
   * The tail of xen_block_send_response, once per batch: RING_PUSH_RESPONSES_AND_CHECK_NOTIFY
   * (notifying the frontend when `rsp_event` lies in the newly published range), then the check
   * for more requests (RING_FINAL_CHECK_FOR_REQUESTS, re-arming req_event, once every consumed
   * request is answered), which schedules another pass when requests wait. Nothing happens
   * when every written response is already published.
   */
  publishResponses(): void {
    if (this.unpublished === 0) return;
    this.unpublished = 0;
    const conn = this.conn;
    if (conn === null) return;
    const ring = conn.ring;
    const notify = ring.pushResponsesAndCheckNotify();
    this.responsePublications++;
    if (ring.checkForMoreRequests()) {
      this.moreWork++;
      this.bh.schedule();
    }
    if (notify) {
      conn.channel.notify();
      this.notifications++;
      // Poll for the frontend's answer: a pass queued behind its interrupt handler takes the
      // requests it publishes in the same turn, where its notification would wake us a turn
      // later (QEMU's xen_device_poll runs this handler from the AioContext's polling too).
      if (!this.stopping && !this.blk.inDrain) this.bh.schedule();
    }
  }

  /** @internal Called by a completion that saw moreWork. */
  scheduleMoreWork(): void {
    this.bh.schedule();
  }

  // ---- internals ---------------------------------------------------------------------------

  // xen_block_start_request: a free struct, or a new one while fewer than the ring size exist.
  private startRequest(): XenBlockRequest | undefined {
    let request = this.free.pop();
    if (request === undefined) {
      if (this.requestsTotal >= this.maxRequests) return undefined;
      request = new XenBlockRequest(this, this.host.frontendId);
      this.requestsTotal++;
    }
    this.requestsInflight++;
    return request;
  }

  // A new ring may be smaller than the last one: keep no more structs than it can use.
  private trimPool(): void {
    while (this.requestsTotal > this.maxRequests && this.free.length > 0) {
      this.free.pop();
      this.requestsTotal--;
    }
  }

  private accountInvalid(operation: number): void {
    switch (blkifAccounting(operation)) {
      case 'read':
        this.blk.acctInvalid(BlockAcctType.READ);
        break;
      case 'write':
        this.blk.acctInvalid(BlockAcctType.WRITE);
        break;
      case 'flush':
        this.blk.acctInvalid(BlockAcctType.FLUSH);
        break;
      default:
        break;
    }
  }

  private report(what: string, e: unknown): void {
    const message = e instanceof Error ? e.message : String(e);
    trace('xen-block', 'error', { id: this.host.id, message: `${what}: ${message}` });
  }

  private readonly hasInflight = (): boolean => this.requestsInflight > 0;

  // xen_block_dataplane_event / xen_block_dataplane_bh
  private readonly onEvent = (): void => {
    this.handleRequests();
  };

  private readonly onBh = (): void => {
    this.handleRequests();
  };

  private readonly onPublishBh = (): void => {
    this.publishResponses();
  };
}
