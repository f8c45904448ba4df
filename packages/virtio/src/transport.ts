/** What a virtio device needs from the transport it is plugged into (QEMU VirtioBusClass). */
import type { AioContext, GuestMemory } from '@vmkit/core';

export interface VirtioTransport {
  /** Legacy (virtio 0.9) register layout: no FEATURES_OK, VERSION_1 never offered. */
  readonly legacy: boolean;
  /** Guest memory holding rings and buffers. */
  readonly memory: GuestMemory;
  /** The context where the transport raises interrupts and, by default, the device handles kicks. */
  readonly context: AioContext;
  /** Re-evaluates the interrupt line from the device's interrupt status. */
  updateInterrupt(): void;
  /** The device was reset (driver wrote 0 to Status, or system reset): drop transport-side queue state. */
  deviceReset(): void;
}
