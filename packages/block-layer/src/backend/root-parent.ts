/**
 * The parent side of a BlockBackend's root edge (block-backend.c child_root): drained-section
 * callbacks (B1–B3), resize notification, AioContext changes and the description used in
 * permission errors.
 */
import type { AioContext } from '@vmkit/core';
import type { BdrvChild, BdrvChildParent } from '../child.js';
import type { BlockBackend } from './block-backend.js';

export class BlockBackendRootParent implements BdrvChildParent {
  constructor(readonly blk: BlockBackend) {}

  /** blk_root_get_parent_desc. */
  description(): string {
    const blk = this.blk;
    if (blk.name !== '') return `block device '${blk.name}'`;
    const dev = blk.attachedDevId;
    return dev !== '' ? `block device '${dev}'` : 'an unnamed block device';
  }

  get aioContext(): AioContext {
    return this.blk.ctx;
  }

  /**
   * B1 blk_root_drained_begin: the device hears of the outermost section only; throttling is
   * disabled on every call, and the first one releases the throttled requests.
   */
  drainedBegin(): void {
    const blk = this.blk;
    if (blk.quiesceCounter++ === 0) blk.devOps?.drainedBegin?.();
    blk.throttle.ioLimitsDisabledInc();
  }

  /** B2 blk_root_drained_end: on the outermost end, the device, then every parked request resumes. */
  drainedEnd(): void {
    const blk = this.blk;
    if (blk.quiesceCounter <= 0) throw new Error('BlockBackend drained_end without drained_begin');
    blk.throttle.ioLimitsDisabledDec();
    if (--blk.quiesceCounter === 0) {
      blk.devOps?.drainedEnd?.();
      blk.resumeQueuedRequests();
    }
  }

  /** B3 blk_root_drained_poll: busy while the device says so or requests are in flight. */
  drainedPoll(): boolean {
    const blk = this.blk;
    const busy = blk.devOps?.drainedPoll?.() ?? false;
    return busy || blk.inFlight > 0;
  }

  /** blk_root_resize. */
  resize(): void {
    this.blk.devOps?.resize?.();
  }

  /**
   * blk_root_change_aio_ctx: the graph is about to move to `ctx`. Only a BlockBackend allowed to
   * change, or one with a monitor name and no device, may follow; the others refuse (and then
   * nothing moves).
   */
  prepareAioContextChange(): string | null {
    return this.blk.canChangeAioContext() ? null : 'Cannot change iothread of active block backend';
  }

  /** blk_root_set_aio_ctx_commit: every user agreed and the nodes moved; follow them. */
  commitAioContextChange(_child: BdrvChild, ctx: AioContext): void {
    this.blk.applyAioContext(ctx);
  }
}
