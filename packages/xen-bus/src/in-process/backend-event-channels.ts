import { Errno, type AioContext } from '@vmkit/core';
import type { XenEventChannelPort, XenEventChannels, XenEventHandler } from '../backend/event-channels.js';
import type { EventChannelHub, PortState } from './event-channel-hub.js';

/** The backend end of a bound interdomain channel. */
class InProcessPort implements XenEventChannelPort {
  private handler: XenEventHandler | undefined;
  private isClosed = false;

  constructor(
    private readonly hub: EventChannelHub,
    private readonly state: PortState,
  ) {}

  get localPort(): number {
    return this.state.port;
  }
  get remoteDomid(): number {
    return this.state.remoteDomid;
  }
  get remotePort(): number {
    return this.state.remotePort;
  }
  get context(): AioContext | null {
    return this.state.notifier.context;
  }
  get closed(): boolean {
    return this.isClosed;
  }

  notify(): number {
    if (this.isClosed) return -Errno.EINVAL;
    return this.hub.send(this.state.domid, this.state.port);
  }

  setHandler(ctx: AioContext | null, handler?: XenEventHandler): void {
    if (handler !== undefined) this.handler = handler;
    if (this.isClosed || ctx === null || this.handler === undefined) {
      this.state.notifier.setHandler(null);
      return;
    }
    this.state.notifier.setHandler(ctx, this.dispatch);
  }

  unbind(): number {
    if (this.isClosed) return -Errno.EINVAL;
    this.isClosed = true;
    this.handler = undefined;
    return this.hub.close(this.state.domid, this.state.port);
  }

  // xen_device_event: read the pending port (clearing it), then run the handler.
  private readonly dispatch = (): void => {
    if (!this.state.notifier.testAndClear()) return;
    this.handler?.(this);
  };
}

/** XenEventChannels of one backend domain of an InProcessXen. */
export class InProcessEventChannels implements XenEventChannels {
  constructor(
    private readonly hub: EventChannelHub,
    readonly domid: number,
  ) {}

  bindInterdomain(remoteDomid: number, remotePort: number): XenEventChannelPort | number {
    const state = this.hub.bindInterdomain(this.domid, remoteDomid, remotePort);
    return typeof state === 'number' ? state : new InProcessPort(this.hub, state);
  }
}
