import { Errno, EventNotifier } from '@vmkit/core';
import { ESRCH } from '../constants.js';

/** One port of one domain (struct evtchn): ECS_UNBOUND or ECS_INTERDOMAIN. */
export interface PortState {
  readonly domid: number;
  readonly port: number;
  kind: 'unbound' | 'interdomain';
  /** Unbound: the domain allowed to bind; interdomain: the peer. */
  remoteDomid: number;
  /** The peer's port, or 0 while unbound. */
  remotePort: number;
  /** Raised by the peer's notify; delivered by whoever attached a handler. */
  readonly notifier: EventNotifier;
}

/** Event channels of every domain of the simulated hypervisor (xen/common/event_channel.c). */
export class EventChannelHub {
  private readonly tables = new Map<number, Map<number, PortState>>();
  private readonly nextPort = new Map<number, number>();

  addDomain(domid: number): void {
    this.tables.set(domid, new Map());
    this.nextPort.set(domid, 1);
  }

  hasDomain(domid: number): boolean {
    return this.tables.has(domid);
  }

  lookup(domid: number, port: number): PortState | undefined {
    return this.tables.get(domid)?.get(port);
  }

  /** Ports currently open in `domid`. */
  openPorts(domid: number): number[] {
    return [...(this.tables.get(domid)?.keys() ?? [])];
  }

  /** EVTCHNOP_alloc_unbound: a new port of `domid` that `remoteDomid` may bind. */
  allocUnbound(domid: number, remoteDomid: number): number {
    const port = this.newPort(domid, 'unbound', remoteDomid, 0);
    return typeof port === 'number' ? port : port.port;
  }

  /** EVTCHNOP_bind_interdomain from `domid` to (remoteDomid, remotePort). */
  bindInterdomain(domid: number, remoteDomid: number, remotePort: number): PortState | number {
    if (!this.tables.has(domid) || !this.tables.has(remoteDomid)) return -ESRCH;
    const remote = this.lookup(remoteDomid, remotePort);
    if (remote === undefined || remote.kind !== 'unbound' || remote.remoteDomid !== domid) {
      return -Errno.EINVAL;
    }
    const local = this.newPort(domid, 'interdomain', remoteDomid, remotePort);
    if (typeof local === 'number') return local;
    remote.kind = 'interdomain';
    remote.remotePort = local.port;
    return local;
  }

  /** EVTCHNOP_send: 0 (an unbound port drops the event, as Xen does), or -EINVAL for a bad port. */
  send(domid: number, port: number): number {
    const p = this.lookup(domid, port);
    if (p === undefined) return -Errno.EINVAL;
    if (p.kind === 'interdomain') this.lookup(p.remoteDomid, p.remotePort)?.notifier.set();
    return 0;
  }

  /** EVTCHNOP_close: the peer goes back to unbound (still offered to this domain). */
  close(domid: number, port: number): number {
    const p = this.lookup(domid, port);
    if (p === undefined) return -Errno.EINVAL;
    if (p.kind === 'interdomain') {
      const peer = this.lookup(p.remoteDomid, p.remotePort);
      if (peer !== undefined) {
        peer.kind = 'unbound';
        peer.remoteDomid = domid;
        peer.remotePort = 0;
      }
    }
    p.notifier.setHandler(null);
    this.tables.get(domid)?.delete(port);
    return 0;
  }

  private newPort(
    domid: number,
    kind: PortState['kind'],
    remoteDomid: number,
    remotePort: number,
  ): PortState | number {
    const table = this.tables.get(domid);
    if (table === undefined) return -ESRCH;
    const port = this.nextPort.get(domid) ?? 1;
    this.nextPort.set(domid, port + 1);
    const state: PortState = {
      domid,
      port,
      kind,
      remoteDomid,
      remotePort,
      notifier: new EventNotifier(`evtchn:d${domid}p${port}`),
    };
    table.set(port, state);
    return state;
  }
}
