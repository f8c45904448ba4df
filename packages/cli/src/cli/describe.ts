/** The lines `vmkit run` prints before the jobs start: what each driven device is and does. */
import type { DeviceHandle } from '../machine/build.js';
import { formatBytes } from '../report/format.js';
import type { JobRunner } from '../workload/runner.js';

export function describeJob(handle: DeviceHandle, runner: JobRunner): string {
  const d = handle.spec;
  const job = runner.job;
  const where = [`on ${d.drive} (${formatBytes(runner.disk.capacity)})`];
  const iothread = d.properties.iothread;
  if (typeof iothread === 'string') where.push(`iothread ${iothread}`);
  if (d.throttleGroup !== undefined) where.push(`throttle group ${d.throttleGroup}`);
  if (d.type === 'xen-block') where.push(`${job.protocol} ring`);
  const mix = job.rw === 'randrw' ? ` (${job.rwmixread}% reads)` : '';
  const limits: string[] = [];
  if (job.runtimeNs !== undefined) limits.push(`${job.runtimeNs / 1e9} s`);
  if (Number.isFinite(runner.region.ioSize)) limits.push(`${formatBytes(runner.region.ioSize)} of I/O`);
  const verify = job.verify === 'none' ? '' : `, verify ${job.verify}`;
  return (
    `${d.id}: ${d.type} ${where.join(', ')}: ${job.rw}${mix} bs=${formatBytes(job.bs)} iodepth=${job.iodepth}, ` +
    `${formatBytes(runner.region.size)} region, ${limits.join(' or ')}${verify}`
  );
}
