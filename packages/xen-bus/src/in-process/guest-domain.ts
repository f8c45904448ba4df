import { Errno, type AioContext, type GuestMemory } from '@vmkit/core';
import type { XenStore } from '../backend/xenstore.js';
import type { DomainState } from './domain.js';
import type { EventChannelHub } from './event-channel-hub.js';

/** Called in the hypervisor's context when a guest port has pending notifications (already cleared). */
export type GuestPortHandler = (port: number) => void;

/**
 * The frontend side of a domain of an InProcessXen: what a guest kernel does through
 * hypercalls (grant table, event channels) and its own xenstore connection, with its own
 * permissions. Tests and guest drivers use it; devices never do.
 */
export class XenGuestDomain {
  constructor(
    private readonly state: DomainState,
    private readonly hub: EventChannelHub,
    private readonly context: AioContext,
    /** The domain's xenstore connection (its home is /local/domain/<domid>). */
    readonly store: XenStore,
    private readonly storeFactory: () => XenStore,
  ) {}

  get domid(): number {
    return this.state.domid;
  }

  /** The domain's memory: frame n is guest-physical [n * 4096, (n + 1) * 4096). */
  get memory(): GuestMemory {
    return this.state.memory;
  }

  /** Another xenstore connection of this domain (own watches and transactions). */
  openStore(): XenStore {
    return this.storeFactory();
  }

  /**
   * gnttab_grant_foreign_access: lets `grantee` map or copy `frame`. Returns the grant ref, or
   * -EINVAL (not a frame number), -ENOSPC (grant table full). Like Xen, the frame is checked
   * when the grant is used, not here.
   */
  grantAccess(frame: number, grantee: number, readonly = false): number {
    if (!Number.isSafeInteger(frame) || frame < 0) return -Errno.EINVAL;
    return this.state.grants.grant(frame, grantee, readonly);
  }

  /** gnttab_end_foreign_access: 0, -EINVAL (not in use), -EBUSY (still mapped by the grantee). */
  revokeAccess(ref: number): number {
    return this.state.grants.revoke(ref);
  }

  /** Grant refs in use. */
  get grantsInUse(): number {
    return this.state.grants.used;
  }

  /** Whether a backend currently maps the grant. */
  isGrantMapped(ref: number): boolean {
    return (this.state.grants.lookup(ref)?.mapCount ?? 0) > 0;
  }

  /** EVTCHNOP_alloc_unbound: a port `remoteDomid` may bind (write it to xenstore for the backend). */
  allocUnboundPort(remoteDomid: number): number {
    return this.hub.allocUnbound(this.domid, remoteDomid);
  }

  /** EVTCHNOP_send: 0, or -EINVAL for a port this domain does not have open. */
  notify(port: number): number {
    return this.hub.send(this.domid, port);
  }

  /** EVTCHNOP_close: 0 or -EINVAL. */
  closePort(port: number): number {
    return this.hub.close(this.domid, port);
  }

  /** The port's state as the guest would query it (EVTCHNOP_status), undefined when closed. */
  portStatus(
    port: number,
  ): { kind: 'unbound' | 'interdomain'; remoteDomid: number; remotePort: number } | undefined {
    const p = this.hub.lookup(this.domid, port);
    return p === undefined
      ? undefined
      : { kind: p.kind, remoteDomid: p.remoteDomid, remotePort: p.remotePort };
  }

  /** Delivers the port's notifications to `handler` (null: stop; they stay pending). 0 or -EINVAL. */
  setPortHandler(port: number, handler: GuestPortHandler | null): number {
    const p = this.hub.lookup(this.domid, port);
    if (p === undefined) return -Errno.EINVAL;
    if (handler === null) {
      p.notifier.setHandler(null);
    } else {
      p.notifier.setHandler(this.context, (n) => {
        if (n.testAndClear()) handler(port);
      });
    }
    return 0;
  }

  /** Polling-style receive: whether the port had a pending notification (and clears it). */
  testAndClearPort(port: number): boolean {
    return this.hub.lookup(this.domid, port)?.notifier.testAndClear() ?? false;
  }

  /** Whether a notification is pending on the port. */
  isPortPending(port: number): boolean {
    return this.hub.lookup(this.domid, port)?.notifier.isSet ?? false;
  }
}
