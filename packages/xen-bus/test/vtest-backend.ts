/**
 * A minimal Xen PV backend for the tests ('vtest'), its backend type for xenstore enumeration,
 * a fake frontend driving it from the guest side, and machine setup.
 */
import { definePlugin, defineDeviceType, Machine, VirtualClock, type DeviceContext } from '@vmkit/core';
import {
  contributeXenBackendType,
  IN_PROCESS_XEN,
  XEN_PAGE_SIZE,
  XenBus,
  XenDevice,
  xenBusPlugin,
  xenDeviceProperties,
  type InProcessXen,
  type XenBackendType,
  type XenEventChannelPort,
  type XenGrantMapping,
  type XenGuestDomain,
  type XenStore,
} from '../src/index.js';
import { turn } from './helpers.js';

export class TestBackend extends XenDevice {
  readonly backendType = 'vtest';
  readonly frontendType = 'vtest';
  ring: XenGrantMapping | undefined;
  port: XenEventChannelPort | undefined;
  kicks = 0;
  connects = 0;
  disconnects = 0;

  constructor(ctx: DeviceContext, props: { devid: number; 'frontend-id'?: number }) {
    super(ctx, props);
    this.devid = props.devid;
  }
  private readonly devid: number;

  protected getName(): string {
    return String(this.devid);
  }

  protected override realizeBackend(): void {
    this.writeBackend('feature-test', 1);
  }

  protected override connect(): void {
    const refs = this.readRingRefs(2);
    const evtchn = this.readEventChannel();
    this.setMaxGrantRefs(refs.length);
    this.ring = this.mapGrantRefs(refs, true);
    // Echo: count the kick in the ring's first byte and notify back.
    this.port = this.bindEventChannel(evtchn, (p) => {
      this.kicks++;
      this.ring!.bytes[0]++;
      p.notify();
    });
    this.connects++;
  }

  protected override disconnect(): void {
    if (this.port !== undefined) this.unbindEventChannel(this.port);
    if (this.ring !== undefined) this.unmapGrantRefs(this.ring);
    this.port = undefined;
    this.ring = undefined;
    this.disconnects++;
  }
}

export const vtestDeviceType = defineDeviceType({
  name: 'vtest',
  bus: 'xen-bus',
  properties: { ...xenDeviceProperties, devid: { kind: 'int', min: 0, required: true } },
  create: (props, ctx) => new TestBackend(ctx, props),
});

/** Options the backend type was given, by devid. */
export const createdWith = new Map<string, Readonly<Record<string, string>>>();

export const vtestBackendType: XenBackendType = {
  name: 'vtest',
  async create(bus, devid, options) {
    createdWith.set(devid, options);
    await bus.machine.deviceAdd({ type: 'vtest', id: `vtest${devid}`, bus: bus.name, devid: Number(devid) });
  },
};

export const vtestPlugin = definePlugin(
  'vtest',
  (ctx) => {
    ctx.deviceType(vtestDeviceType);
    contributeXenBackendType(ctx, vtestBackendType);
  },
  { dependencies: ['xen-bus'] },
);

export interface Rig {
  machine: Machine;
  xen: InProcessXen;
  bus: XenBus;
  guest: XenGuestDomain;
  settle(): Promise<void>;
}

/** A machine with the xen-bus and vtest plugins, guest domain 1, and a xen-bridge serving it. */
export async function newRig(): Promise<Rig> {
  const machine = await Machine.create({ plugins: [xenBusPlugin, vtestPlugin], clock: new VirtualClock() });
  const xen = machine.container.get<InProcessXen>(IN_PROCESS_XEN);
  const guest = xen.createDomain({ domid: 1, pages: 64 });
  await machine.deviceAdd({ type: 'xen-bridge', id: 'xen', 'frontend-id': 1 });
  const bus = XenBus.of(machine.bus('xen.0'))!;
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 200; i++) {
      const ran = xen.flush();
      await bus.settled();
      await Promise.all(bus.devices().map((d) => d.whenIdle()));
      await turn();
      if (ran === 0 && xen.pendingWatchEvents === 0 && xen.flush() === 0) return;
    }
    throw new Error('xen rig did not settle');
  };
  await settle();
  return { machine, xen, bus, guest, settle };
}

export const bePath = (devid: number | string): string => `/local/domain/0/backend/vtest/1/${devid}`;
export const fePath = (devid: number | string): string => `/local/domain/1/device/vtest/${devid}`;

/** What a toolstack (libxl) does to add a backend: the area, online = 1, state = Initialising. */
export function toolstackAdd(dom0: XenStore, devid: number, extra: Record<string, string> = {}): void {
  const be = bePath(devid);
  for (;;) {
    const tx = dom0.transactionStart();
    dom0.write(be, '', tx);
    dom0.setPermissions(
      be,
      [
        { domid: 0, access: 'none' },
        { domid: 1, access: 'read' },
      ],
      tx,
    );
    dom0.write(`${be}/frontend-id`, '1', tx);
    for (const [k, v] of Object.entries(extra)) dom0.write(`${be}/${k}`, v, tx);
    dom0.write(`${be}/online`, '1', tx);
    dom0.write(`${be}/state`, '1', tx);
    if (dom0.transactionEnd(tx) === 0) return;
  }
}

/** The guest side of a vtest device: a ring of `pages` pages and an event channel. */
export class FakeFrontend {
  readonly frames: number[] = [];
  readonly refs: number[] = [];
  port = 0;
  notified = 0;

  constructor(
    readonly guest: XenGuestDomain,
    readonly devid: number,
  ) {}

  get store(): XenStore {
    return this.guest.store;
  }
  get path(): string {
    return fePath(this.devid);
  }
  backendState(): number {
    const backend = this.store.read(`${this.path}/backend`);
    if (typeof backend !== 'string') return -1;
    const v = this.store.read(`${backend}/state`);
    return typeof v === 'string' ? Number(v) : -1;
  }
  setState(state: number): number {
    return this.store.write(`${this.path}/state`, String(state));
  }

  /** Publishes the ring and event channel (xenbus_grant_ring, alloc_evtchn) and goes Initialised. */
  initialise(pages = 1, firstFrame = 10): void {
    this.frames.length = 0;
    this.refs.length = 0;
    for (let i = 0; i < pages; i++) {
      // Scattered frames on purpose: the backend must still see one contiguous ring.
      const frame = firstFrame + i * 3;
      this.guest.memory.fill(frame * XEN_PAGE_SIZE, XEN_PAGE_SIZE, 0);
      this.frames.push(frame);
      this.refs.push(this.guest.grantAccess(frame, 0));
    }
    this.port = this.guest.allocUnboundPort(0);
    this.guest.setPortHandler(this.port, () => this.notified++);
    const tx = this.store.transactionStart();
    if (pages === 1) {
      this.store.write(`${this.path}/ring-ref`, String(this.refs[0]), tx);
    } else {
      this.store.write(`${this.path}/ring-page-order`, String(Math.log2(pages)), tx);
      this.refs.forEach((r, i) => this.store.write(`${this.path}/ring-ref${i}`, String(r), tx));
    }
    this.store.write(`${this.path}/event-channel`, String(this.port), tx);
    this.store.transactionEnd(tx);
    this.setState(3);
  }

  /** Frees what initialise() allocated (after the backend let go). */
  release(): void {
    for (const r of this.refs) this.guest.revokeAccess(r);
    this.guest.closePort(this.port);
  }

  ringByte(): number {
    return this.guest.memory.readU8(this.frames[0] * XEN_PAGE_SIZE);
  }
}
