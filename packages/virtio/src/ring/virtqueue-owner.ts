/** What a VirtQueue needs from its device, and the handler type for guest kicks. */
import type { VirtQueue } from './virtqueue.js';
import type { VirtQueueErrorKind } from './virtqueue-error.js';

/** What a queue needs from its device (implemented by VirtioDevice). */
export interface VirtQueueOwner {
  /** A device-level error stops every queue. */
  readonly broken: boolean;
  /** Guest notifiers are assigned: interrupts go through each queue's `guestNotifier`. */
  readonly guestNotifiersAssigned: boolean;
  /** virtio_error for a malformed ring or chain. */
  queueError(queue: VirtQueue, kind: VirtQueueErrorKind): void;
  /** Sets interrupt status bits and updates the line (virtio_irq). */
  raiseInterrupt(bits: number): void;
  /** Sets interrupt status bits without touching the line (the irqfd path raises it). */
  setInterruptStatus(bits: number): void;
  /** Called by the default host-notifier handler (virtio_queue_notify_vq). */
  handleQueueNotify(queue: VirtQueue): void;
}

/** Handler run when the guest kicks a queue whose host notifier is attached. */
export type HostNotifierHandler = (queue: VirtQueue) => void;
