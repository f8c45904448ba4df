/**
 * Builds a validated config into a machine, in QEMU's order: objects, blockdevs, the Xen guest
 * domains and bridge, devices (each virtio-blk on its own virtio-mmio slot over machine memory,
 * each xen-block on the Xen bus), then each driven device's BlockBackend joins its throttle group
 * and gets latency histograms, and its guest driver connects. A failure names the config entry.
 */
import type { Machine } from '@vmkit/core';
import { BlockAcctType, blockLayerOf, type BlockBackend } from '@vmkit/block-layer';
import { ConfigIssues } from '../config/issues.js';
import type { DeviceSpec, JobSpec, RunConfig } from '../config/types.js';
import type { GuestDisk } from '../workload/guest-disk.js';
import { LATENCY_BOUNDARIES_NS } from '../report/histogram.js';
import { connectVirtioBlk, VirtioGuestMemory } from './virtio-guest.js';
import { XenGuests } from './xen-guest.js';

/** One disk device of the running machine. */
export interface DeviceHandle {
  readonly spec: DeviceSpec;
  /** The device's BlockBackend (accounting, throttling). */
  readonly blk: BlockBackend;
  /** Its job, if the workload drives it. */
  readonly job: JobSpec | undefined;
  /** The connected guest driver, when there is a job. */
  readonly disk: GuestDisk | undefined;
}

/** Stats interval added to every BlockBackend: long enough that its max covers the whole run. */
export const STATS_INTERVAL_S = 86_400;

async function at<T>(path: string, step: () => T | Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (e) {
    if (e instanceof ConfigIssues) throw e;
    throw new ConfigIssues([{ path, message: e instanceof Error ? e.message : String(e) }]);
  }
}

/** Creates everything `config` describes in `machine`; throws ConfigIssues naming the entry. */
export async function buildMachine(machine: Machine, config: RunConfig): Promise<DeviceHandle[]> {
  for (const o of config.objects) {
    await at(o.path, () => machine.objectAdd({ ...o.properties, type: o.type, id: o.id }));
  }
  for (const b of config.blockdevs) {
    await at(b.path, () => machine.blockdevAdd(b.options as { driver: string }));
  }
  const jobs = new Map((config.jobs ?? []).map((j) => [j.device, j]));
  const xen = config.devices.some((d) => d.type === 'xen-block')
    ? await at('devices', () => XenGuests.create(machine, config.devices, jobs))
    : undefined;
  const virtioMemory = new VirtioGuestMemory(machine.memory);
  const layer = blockLayerOf(machine);
  const handles: DeviceHandle[] = [];
  for (const d of config.devices) {
    const job = jobs.get(d.id);
    const handle = await at(d.path, async (): Promise<DeviceHandle> => {
      const props = { ...d.properties, type: d.type, id: d.id };
      let connect: () => Promise<GuestDisk>;
      if (d.type === 'virtio-blk') {
        const slot = virtioMemory.slot(machine, d, job);
        await machine.deviceAdd({ ...props, bus: slot.slot.bus.name });
        connect = () => Promise.resolve(connectVirtioBlk(slot));
      } else {
        await machine.deviceAdd({ ...props, bus: xen!.busName });
        connect = () => xen!.connect(d, job!);
      }
      const blk = layer.findBlockBackend(d.id);
      if (d.throttleGroup !== undefined) blk.ioLimitsEnable(d.throttleGroup);
      for (const type of [BlockAcctType.READ, BlockAcctType.WRITE, BlockAcctType.FLUSH]) {
        blk.stats.setLatencyHistogram(type, LATENCY_BOUNDARIES_NS);
      }
      blk.stats.addInterval(STATS_INTERVAL_S);
      const disk = job !== undefined ? await connect() : undefined;
      return { spec: d, blk, job, disk };
    });
    handles.push(handle);
  }
  return handles;
}
