/**
 * The VirtioTransport a device is plugged into while a vhost-user front-end drives it: guest
 * memory is the front-end's shared RAM, and a used-buffer interrupt becomes a write to the call
 * eventfd of the queue it concerns (the front-end injects it into the guest).
 */
import { trace, type AioContext, type GuestMemory } from '@vmkit/core';
import { VirtioFeature, VirtioInterrupt, type VirtioDevice, type VirtioTransport } from '@vmkit/virtio';
import type { VhostVring } from './vhost-vring.js';

export class VhostUserTransport implements VirtioTransport {
  readonly legacy = false;
  /** Config-change interrupts that could not be forwarded (no back-end channel). */
  droppedConfigInterrupts = 0;
  private inUpdate = false;

  constructor(
    readonly device: VirtioDevice,
    readonly memory: GuestMemory,
    readonly context: AioContext,
    private readonly rings: readonly VhostVring[],
  ) {}

  /**
   * The device raised an interrupt (virtio_notify, or its guest notifier fired). vhost-user has
   * no interrupt status register, so the bits are consumed here: a VRING interrupt calls the
   * queues whose used index moved since their last call (the device interface does not say
   * which queue notified); if none moved, every running queue when NOTIFY_ON_EMPTY is negotiated
   * and none otherwise (a handler that found nothing to do and notified anyway).
   */
  updateInterrupt(): void {
    const isr = this.device.interruptStatus;
    if (isr === 0 || this.inUpdate) return;
    this.inUpdate = true;
    try {
      if ((isr & VirtioInterrupt.VRING) !== 0) this.callQueues();
      if ((isr & VirtioInterrupt.CONFIG) !== 0) this.configInterrupt();
      this.device.ackInterrupt(isr);
    } finally {
      this.inUpdate = false;
    }
  }

  /** The device was reset: the vhost-user ring state belongs to the front-end and stays. */
  deviceReset(): void {}

  private callQueues(): void {
    const rings = this.rings;
    let called = 0;
    for (let i = 0; i < rings.length; i++) {
      const ring = rings[i];
      if (ring.active && ring.queue.usedIdx !== ring.signalledUsed && ring.call()) called++;
    }
    // Nothing new in any used ring: only NOTIFY_ON_EMPTY asks for an interrupt then.
    if (called > 0 || !this.device.hasFeature(VirtioFeature.NOTIFY_ON_EMPTY)) return;
    for (let i = 0; i < rings.length; i++) if (rings[i].active) rings[i].call();
  }

  /**
   * A config change would be forwarded with VHOST_USER_SLAVE_CONFIG_CHANGE_MSG over the back-end
   * channel, which this back-end does not offer; a device error is reported on the err eventfds.
   */
  private configInterrupt(): void {
    if (this.device.broken) {
      for (const ring of this.rings) if (ring.active) ring.signalError();
    }
    this.droppedConfigInterrupts++;
    trace('vhost-user', 'config-interrupt-dropped', { device: this.device.name, broken: this.device.broken });
  }
}
