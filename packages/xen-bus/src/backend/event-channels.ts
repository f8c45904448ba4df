import type { AioContext } from '@vmkit/core';

/** Called in the attached context when notifications are pending; the pending flag is already cleared. */
export type XenEventHandler = (port: XenEventChannelPort) => void;

/**
 * One backend end of an interdomain event channel (QEMU: XenEventChannel, over a xenevtchn
 * handle). Notifications that arrive while no context is attached stay pending and are delivered
 * once a context is attached again; several notifications before the handler runs give one call.
 */
export interface XenEventChannelPort {
  /** The local (backend) port number. */
  readonly localPort: number;
  /** The frontend domain and its port. */
  readonly remoteDomid: number;
  readonly remotePort: number;
  /** The context notifications are delivered in; null while detached. */
  readonly context: AioContext | null;
  /** True once unbind() ran. */
  readonly closed: boolean;
  /** xenevtchn_notify: 0, or -EINVAL when the port was unbound. */
  notify(): number;
  /**
   * xen_device_set_event_channel_context: deliver notifications in `ctx`. `null` keeps the port
   * bound but stops delivery; pending notifications wait for the next attach. `handler` may be
   * omitted to keep the previous one (re-attach after a drained section).
   */
  setHandler(ctx: AioContext | null, handler?: XenEventHandler): void;
  /** xenevtchn_unbind: detaches and closes the port; 0, or -EINVAL if already unbound. */
  unbind(): number;
}

/** Event channel operations of a backend domain (libxenevtchn). */
export interface XenEventChannels {
  /**
   * xenevtchn_bind_interdomain: connects to `remotePort`, an unbound port that `remoteDomid`
   * allocated for this domain. Returns the port, or -ESRCH (no such domain) / -EINVAL (the
   * remote port is not unbound, not offered to this domain, or does not exist).
   */
  bindInterdomain(remoteDomid: number, remotePort: number): XenEventChannelPort | number;
}
