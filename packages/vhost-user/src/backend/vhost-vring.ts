/**
 * The vhost-user side of one virtqueue (libvhost-user VuVirtq): what the front-end told us about
 * the ring (size, base, addresses, kick/call/err descriptors, enable) and whether it is started.
 * The VirtQueue of the device is only touched while the ring is active (started and enabled).
 */
import type { VirtQueue } from '@vmkit/virtio';
import { EventFd } from '../event-fd.js';
import type { VringAddress } from '../protocol/payloads.js';

/** Called when a kick descriptor fails (the watcher reported an error). */
export type KickFailureHandler = (ring: VhostVring, status: number) => void;

/** The kick watcher reads the eventfd natively: no BigInt and no second call into the addon per kick. */
const KICK_WATCH = { consume: true } as const;

export class VhostVring {
  /** SET_VRING_NUM; 0 until set. */
  num = 0;
  /** Next avail index to process: SET_VRING_BASE, and where a stopped ring left off. */
  base = 0;
  /** SET_VRING_ADDR, or null before it. */
  address: VringAddress | null = null;
  /** SET_VRING_ENABLE (effective only once VHOST_USER_F_PROTOCOL_FEATURES is acked). */
  enableRequested = false;
  /** A kick descriptor arrived and no GET_VRING_BASE since (the protocol's "started"). */
  started = false;
  /** Rings mapped into the VirtQueue and kicks watched. */
  active = false;
  /** used.idx when the call descriptor was last written (which queues an interrupt concerns). */
  signalledUsed = 0;
  /** Kicks handled. */
  kicks = 0;
  /** Calls (interrupts) sent. */
  calls = 0;

  private kickFd: EventFd | null = null;
  private callFd: EventFd | null = null;
  private errFd: EventFd | null = null;

  /**
   * Bound once. The kick watcher has already read (reset) the counter. Like QEMU's aio_poll,
   * which runs an ioeventfd's handler (virtio_queue_host_notifier_aio_read) in the iteration
   * that found it readable, the queue's context runs the bottom halves pending now (the
   * notifier's dispatch among them) right here rather than from a setImmediate: what they
   * schedule (completions) then runs in this loop turn's check phase, not the next turn's.
   * set() itself stays asynchronous, as EventNotifier promises; one batch only, so the
   * microtasks of this batch still run before the next one, as between setImmediate batches.
   */
  private readonly onKick = (status: number): void => {
    if (status < 0) {
      this.onKickFailure(this, status);
      return;
    }
    if (this.kickFd === null) return;
    this.kicks++;
    const notifier = this.queue.hostNotifier;
    notifier.set();
    notifier.context?.poll();
  };

  constructor(
    readonly queue: VirtQueue,
    private readonly onKickFailure: KickFailureHandler,
  ) {}

  get index(): number {
    return this.queue.index;
  }

  get hasKick(): boolean {
    return this.kickFd !== null;
  }

  get hasCall(): boolean {
    return this.callFd !== null;
  }

  get hasErr(): boolean {
    return this.errFd !== null;
  }

  /** Takes ownership of a kick descriptor (or none), closing the previous one. */
  setKick(fd: number | null): void {
    this.kickFd?.close();
    this.kickFd = fd === null ? null : EventFd.adopt(fd);
  }

  setCall(fd: number | null): void {
    this.callFd?.close();
    this.callFd = fd === null ? null : EventFd.adopt(fd);
  }

  setErr(fd: number | null): void {
    this.errFd?.close();
    this.errFd = fd === null ? null : EventFd.adopt(fd);
  }

  /** Starts handling kicks: 0 or -errno from the watcher. */
  watchKick(): number {
    return this.kickFd === null ? 0 : this.kickFd.watch(this.onKick, KICK_WATCH);
  }

  unwatchKick(): void {
    this.kickFd?.unwatch();
  }

  /** Interrupts the guest for this queue (writes the call eventfd); false without one. */
  call(): boolean {
    const fd = this.callFd;
    if (fd === null) return false;
    this.signalledUsed = this.queue.usedIdx;
    this.calls++;
    // -EAGAIN only if the counter would overflow: the front-end has the interrupt already.
    fd.write(1);
    return true;
  }

  /** Reports a ring error to the front-end (the err eventfd); false without one. */
  signalError(): boolean {
    if (this.errFd === null) return false;
    this.errFd.write(1);
    return true;
  }

  /** Closes every descriptor (connection end). */
  closeFds(): void {
    this.setKick(null);
    this.setCall(null);
    this.setErr(null);
  }
}
