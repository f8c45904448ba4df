/**
 * The Xen side of xen-block devices: the machine's in-process hypervisor (xen-bus's
 * InProcessXen), one guest domain per frontend id whose memory holds its frontends' rings and
 * data pages, the `xen-bridge` device whose bus the backends sit on, and for each driven device
 * a Blkfront that runs the XenbusState handshake with the backend.
 */
import type { Machine } from '@vmkit/core';
import { IN_PROCESS_XEN, type InProcessXen, type XenGuestDomain } from '@vmkit/xen-bus';
import type { XenBlockDevice } from '@vmkit/xen-block';
import { Blkfront, BLKFRONT_MAX_SECTORS } from '@vmkit/xen-block/testing';
import type { DeviceSpec, JobSpec } from '../config/types.js';
import { XenBlkGuestDisk } from '../workload/xen-blk-disk.js';

const PAGE = 4096;
/** Frames below this stay unused (Blkfront's own default keeps them free too). */
const FIRST_FRAME = 16;
/** Largest ring a frontend asks for: 2^4 pages (xen-block's default max-ring-page-order). */
const MAX_RING_ORDER = 4;
const RING_ENTRIES_PER_PAGE = 32;
export const XEN_BRIDGE_ID = 'xen-bridge';

interface FrontendPlan {
  readonly first: number;
  readonly count: number;
  readonly ringPageOrder: number;
}

/** Pages a job's frontend needs: its largest ring and every data page of iodepth requests. */
function framesFor(job: JobSpec): number {
  return (1 << MAX_RING_ORDER) + job.iodepth * Math.ceil(job.bs / PAGE) + 8;
}

/** The ring order that holds iodepth requests (Blkfront splits requests above 88 sectors). */
function ringOrderFor(job: JobSpec): number {
  const requests = job.iodepth * Math.ceil(job.bs / (BLKFRONT_MAX_SECTORS * 512));
  let order = 0;
  while (order < MAX_RING_ORDER && RING_ENTRIES_PER_PAGE << order < requests) order++;
  return order;
}

export class XenGuests {
  private constructor(
    private readonly machine: Machine,
    private readonly domains: ReadonlyMap<number, XenGuestDomain>,
    private readonly plans: ReadonlyMap<string, FrontendPlan>,
    readonly busName: string,
  ) {}

  /** Creates the guest domains the xen-block devices name and the xen-bridge serving them. */
  static async create(
    machine: Machine,
    devices: readonly DeviceSpec[],
    jobs: ReadonlyMap<string, JobSpec>,
  ): Promise<XenGuests> {
    const xen = machine.container.get<InProcessXen>(IN_PROCESS_XEN);
    const nextFrame = new Map<number, number>();
    const plans = new Map<string, FrontendPlan>();
    for (const d of devices) {
      if (d.type !== 'xen-block') continue;
      const first = nextFrame.get(d.frontendId) ?? FIRST_FRAME;
      const job = jobs.get(d.id);
      const count = job !== undefined ? framesFor(job) : 0;
      nextFrame.set(d.frontendId, first + count);
      if (job !== undefined) plans.set(d.id, { first, count, ringPageOrder: ringOrderFor(job) });
    }
    const domains = new Map<number, XenGuestDomain>();
    for (const [domid, end] of [...nextFrame].sort((a, b) => a[0] - b[0])) {
      domains.set(domid, xen.createDomain({ domid, pages: end + FIRST_FRAME }));
    }
    const bridgeFrontend = Math.min(...domains.keys());
    await machine.deviceAdd({ type: 'xen-bridge', id: XEN_BRIDGE_ID, 'frontend-id': bridgeFrontend });
    const bus = machine.deviceInfo(XEN_BRIDGE_ID).buses[0];
    if (bus === undefined) throw new Error('the xen-bridge created no bus');
    return new XenGuests(machine, domains, plans, bus.name);
  }

  /** Connects a Blkfront to xen-block device `d` (already added) for `job`. */
  async connect(d: DeviceSpec, job: JobSpec): Promise<XenBlkGuestDisk> {
    const plan = this.plans.get(d.id);
    const guest = this.domains.get(d.frontendId);
    if (plan === undefined || guest === undefined)
      throw new Error(`xen-block '${d.id}' has no frontend plan`);
    const device = this.machine.device<XenBlockDevice>(d.id);
    const front = new Blkfront(guest, {
      devid: device.vdev.number,
      protocol: job.protocol,
      ringPageOrder: plan.ringPageOrder,
      frames: { first: plan.first, count: plan.count },
    });
    await front.connect();
    return new XenBlkGuestDisk(front);
  }
}
