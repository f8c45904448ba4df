/**
 * The virtio-blk dataplane (seed virtio-blk-dataplane.c, QEMU 8 virtio_blk_start/stop_ioeventfd):
 * queue kicks are handled in one AioContext — the IOThread's when the device has one, else the
 * transport's — and the BlockBackend moves to that context while the dataplane runs. Guest
 * interrupts are batched through a bottom half; drained sections detach the host notifiers and
 * re-attach them (with a kick) at their end.
 */
import { ConfigError, trace, type AioContext, type BottomHalf } from '@vmkit/core';
import type { BlockBackend } from '@vmkit/block-layer';
import type { VirtQueue, VirtioTransport } from '@vmkit/virtio';
import type { VirtioBlkNotifier } from './io.js';

/** What the dataplane needs from its device. */
export interface DataplaneDevice {
  readonly name: string;
  readonly queues: readonly VirtQueue[];
  readonly transport: VirtioTransport | null;
  /** Route interrupts through each queue's guest notifier (set_guest_notifiers). */
  setGuestNotifiers(assign: boolean): void;
}

export class VirtioBlkDataplane implements VirtioBlkNotifier {
  private startedValue = false;
  /** The context queues are processed in while started. */
  private ctx: AioContext;
  /** Bumped by start and stop: a stop that finishes after a restart leaves things alone. */
  private epoch = 0;
  private stopping: Promise<void> | null = null;
  private notifyBh: BottomHalf | null = null;
  private notifyBhCtx: AioContext | null = null;
  /** Queues with completions published since the last guest notification. */
  private readonly pendingNotify: boolean[];

  constructor(
    private readonly dev: DataplaneDevice,
    private readonly blk: BlockBackend,
    /** The device's IOThread, or null to run in the transport's context. */
    private readonly iothread: AioContext | null,
    /** Where the BlockBackend goes back to when the dataplane stops. */
    private readonly mainContext: AioContext,
  ) {
    this.ctx = mainContext;
    this.pendingNotify = dev.queues.map(() => false);
  }

  get started(): boolean {
    return this.startedValue;
  }

  /** The context requests are processed in now: the dataplane's when started, else the transport's. */
  get context(): AioContext {
    if (this.startedValue) return this.ctx;
    return this.dev.transport?.context ?? this.mainContext;
  }

  /** A stop still draining the BlockBackend, if any. */
  get pendingStop(): Promise<void> | null {
    return this.stopping;
  }

  /**
   * virtio_blk_start_ioeventfd: moves the BlockBackend to the IOThread (falling back to the
   * transport's context if another user keeps it elsewhere), then attaches the host notifiers and
   * kicks them to pick up requests already in the rings, unless the BlockBackend is drained: the
   * end of the drained section attaches them then.
   */
  start(): void {
    if (this.startedValue) return;
    const transport = this.dev.transport;
    if (transport === null) return;
    let ctx = transport.context;
    if (this.iothread !== null && this.iothread !== ctx) {
      try {
        if (this.blk.aioContext !== this.iothread) this.blk.setAioContext(this.iothread);
        ctx = this.iothread;
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        trace('virtio-blk', 'dataplane-fallback', { device: this.dev.name, reason: e.message });
      }
    }
    this.epoch++;
    this.startedValue = true;
    this.ctx = ctx;
    this.useNotifyContext(ctx);
    if (ctx !== transport.context) this.dev.setGuestNotifiers(true);
    trace('virtio-blk', 'dataplane-start', { device: this.dev.name, context: ctx.name });
    this.attach();
  }

  /**
   * virtio_blk_stop_ioeventfd: detaches the host notifiers at once (kicks then reach the device's
   * handler in the transport's context, which starts the dataplane again), then drains the
   * BlockBackend and moves it back to the main context. The promise settles when that is done.
   */
  stop(): Promise<void> {
    if (!this.startedValue) return this.stopping ?? Promise.resolve();
    this.startedValue = false;
    const epoch = ++this.epoch;
    this.attach();
    trace('virtio-blk', 'dataplane-stop', { device: this.dev.name });
    const done = this.finishStop(epoch);
    this.stopping = done;
    const clear = (): void => {
      if (this.stopping === done) this.stopping = null;
    };
    done.then(clear, clear);
    return done;
  }

  private async finishStop(epoch: number): Promise<void> {
    await this.blk.drain();
    if (epoch !== this.epoch || this.startedValue) return;
    if (this.iothread !== null && this.blk.aioContext !== this.mainContext) {
      try {
        this.blk.setAioContext(this.mainContext);
      } catch (e) {
        // Another user keeps the BlockBackend's node in the IOThread: that is allowed.
        if (!(e instanceof ConfigError)) throw e;
      }
    }
    this.dev.setGuestNotifiers(false);
  }

  /** BlockDevOps.drainedBegin: no kick is handled while the BlockBackend is drained. */
  drainedBegin(): void {
    this.detach();
  }

  /** BlockDevOps.drainedEnd: re-attach and kick (kicks that came meanwhile are pending). */
  drainedEnd(): void {
    this.attach();
  }

  /**
   * A request was completed on `queue` (its used element filled): publish it and interrupt the
   * guest from a bottom half (one per batch).
   */
  notify(queue: VirtQueue): void {
    this.pendingNotify[queue.index] = true;
    let bh = this.notifyBh;
    if (bh === null) bh = this.useNotifyContext(this.context);
    bh.schedule();
  }

  /**
   * Schedules the notification bottom half without marking a queue: it then runs after the
   * bottom halves queued so far (completions of requests just submitted) and interrupts the
   * guest for whatever they published.
   */
  scheduleNotify(): void {
    let bh = this.notifyBh;
    if (bh === null) bh = this.useNotifyContext(this.context);
    bh.schedule();
  }

  /** Runs a pending guest notification now (before the device goes away). */
  flushNotify(): void {
    if (this.notifyBh?.scheduled === true) {
      this.notifyBh.cancel();
      this.notifyGuests();
    }
  }

  /** Releases the bottom half (the device is unrealized). */
  destroy(): void {
    this.flushNotify();
    this.notifyBh?.delete();
    this.notifyBh = null;
    this.notifyBhCtx = null;
  }

  /**
   * Puts the host notifiers where they belong now: nowhere while the BlockBackend is drained
   * (kicks stay pending); in the dataplane's context with a kick when started (a detach may have
   * left guest notifications suppressed: they are wanted while attached); else on the device's
   * own handler in the transport's context, whose first kick starts the dataplane.
   */
  private attach(): void {
    if (this.blk.inDrain) {
      this.detach();
      return;
    }
    const transport = this.dev.transport;
    for (const q of this.dev.queues) {
      if (this.startedValue) {
        if (!q.notificationEnabled) q.setNotification(true);
        q.attachHostNotifier(this.ctx);
        q.hostNotifier.set();
      } else if (transport !== null) {
        q.attachHostNotifier(transport.context);
      }
    }
  }

  private detach(): void {
    for (const q of this.dev.queues) q.detachHostNotifier();
  }

  private useNotifyContext(ctx: AioContext): BottomHalf {
    if (this.notifyBh !== null && this.notifyBhCtx === ctx) return this.notifyBh;
    this.flushNotify();
    this.notifyBh?.delete();
    this.notifyBh = ctx.bh(this.notifyGuests, `${this.dev.name}:notify-guest`);
    this.notifyBhCtx = ctx;
    return this.notifyBh;
  }

  /**
   * notify_guest_bh: per queue, publishes the used elements completed since (one used.idx write:
   * elements first, then the index, then the interrupt decision) and decides once whether to
   * interrupt.
   */
  private readonly notifyGuests = (): void => {
    const queues = this.dev.queues;
    const pending = this.pendingNotify;
    for (let i = 0; i < pending.length; i++) {
      if (!pending[i]) continue;
      pending[i] = false;
      const q = queues[i];
      q.publish();
      q.notifyIrqfd();
    }
  };
}
