import type { AioContext } from '@vmkit/core';
import type {
  GrantCopyDirection,
  XenEventChannelPort,
  XenEventHandler,
  XenGrantCopySegment,
  XenGrantMapping,
} from '@vmkit/xen-bus';

/**
 * The backend operations the dataplane needs from its device (QEMU's xen_device_* calls).
 * XenDevice provides all of them; tests may provide their own.
 */
export interface XenBlockDataPlaneHost {
  /** The device id, for traces. */
  readonly id: string;
  /** The frontend's domain (the granting domain of every segment). */
  readonly frontendId: number;
  setMaxGrantRefs(count: number): void;
  mapGrantRefs(refs: readonly number[], writable: boolean): XenGrantMapping;
  unmapGrantRefs(mapping: XenGrantMapping): void;
  bindEventChannel(port: number, handler: XenEventHandler, ctx?: AioContext): XenEventChannelPort;
  setEventChannelContext(channel: XenEventChannelPort, ctx: AioContext | null): void;
  unbindEventChannel(channel: XenEventChannelPort): void;
  /** 0, or the first failing GNTST status. */
  copyGrantRefs(
    direction: GrantCopyDirection,
    segments: readonly XenGrantCopySegment[],
    count?: number,
  ): number;
}
