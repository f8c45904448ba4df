import { expect } from 'chai';
import { VirtualClock } from '@vmkit/core';
import { JobRunner, jobRegion, type JobSpec } from '../src/index.js';
import { MemoryGuestDisk } from './helpers/memory-disk.js';

function job(over: Partial<JobSpec> = {}): JobSpec {
  return {
    path: 'workload',
    device: 'd0',
    rw: 'randrw',
    rwmixread: 50,
    bs: 4096,
    iodepth: 8,
    offset: 0,
    size: undefined,
    ioSize: undefined,
    runtimeNs: undefined,
    verify: 'crc32c',
    randseed: 7,
    protocol: 'native',
    ...over,
  };
}

/** Advances the clock in small steps until `p` settles. */
async function drive<T>(clock: VirtualClock, p: Promise<T>, stepNs = 10e6): Promise<T> {
  let done = false;
  const settled = p.finally(() => (done = true));
  for (let i = 0; i < 100_000 && !done; i++) await clock.advance(stepNs);
  return settled;
}

describe('JobRunner', () => {
  it('does one pass over the region without runtime or io_size (fio), then one flush', async () => {
    const clock = new VirtualClock();
    const disk = new MemoryGuestDisk(1 << 20);
    const r = new JobRunner(job({ rw: 'write', size: 64 * 1024 }), disk, clock);
    await drive(clock, r.run());
    expect(r.stopReason).to.equal('io_size');
    expect(r.counters.writes).to.equal(16);
    expect(r.counters.writeBytes).to.equal(64 * 1024);
    expect(disk.flushes).to.equal(1);
    expect(r.flushStatus).to.equal(0);
    expect(r.verify!.written).to.equal(16);
    expect(disk.bytes.subarray(64 * 1024).every((b) => b === 0)).to.equal(true);
  });

  it('keeps iodepth requests in flight and stops at the runtime on the clock', async () => {
    const clock = new VirtualClock();
    const disk = new MemoryGuestDisk(1 << 20);
    const r = new JobRunner(job({ runtimeNs: 200e6 }), disk, clock);
    await drive(clock, r.run());
    expect(r.stopReason).to.equal('runtime');
    expect(disk.maxInFlight).to.equal(8);
    expect(r.elapsedNs).to.be.at.least(200e6);
    expect(r.counters.inFlight).to.equal(0);
    expect(r.verify!.checked).to.be.greaterThan(0);
    expect(r.verify!.errors).to.equal(0);
  });

  it('stops at io_size and when stopped', async () => {
    const clock = new VirtualClock();
    const a = new JobRunner(job({ ioSize: 40 * 4096, runtimeNs: 10e9 }), new MemoryGuestDisk(1 << 20), clock);
    await drive(clock, a.run());
    expect(a.stopReason).to.equal('io_size');
    expect(a.counters.reads + a.counters.writes).to.equal(40);

    const b = new JobRunner(job(), new MemoryGuestDisk(1 << 20), clock);
    const running = b.run();
    await clock.advance(1e6);
    b.stop('interrupted');
    await drive(clock, running);
    expect(b.stopReason).to.equal('interrupted');
    expect(b.counters.inFlight).to.equal(0);
  });

  it('catches a misdirected write on read-back', async () => {
    const clock = new VirtualClock();
    const disk = new MemoryGuestDisk(64 * 1024);
    disk.misdirect = 4096; // block 1's writes land on block 2
    const r = new JobRunner(job({ size: 16 * 1024, runtimeNs: 500e6, iodepth: 2 }), disk, clock);
    await drive(clock, r.run());
    expect(r.verify!.errors).to.be.greaterThan(0);
    expect(r.verify!.failures[0].offset).to.be.oneOf([4096, 8192]);
  });

  it('counts error statuses and forgets the contents of failed writes', async () => {
    const clock = new VirtualClock();
    const disk = new MemoryGuestDisk(64 * 1024);
    disk.failAt = { offset: 0, status: 1 };
    const r = new JobRunner(job({ size: 16 * 1024, runtimeNs: 300e6, iodepth: 2 }), disk, clock);
    await drive(clock, r.run());
    expect(r.counters.ioErrors).to.be.greaterThan(0);
    expect(r.verify!.errors).to.equal(0);
  });

  it('gives up on requests still unanswered 10 s after the job stopped', async () => {
    const clock = new VirtualClock();
    const disk = new MemoryGuestDisk(64 * 1024);
    disk.loseAt = 8192;
    const r = new JobRunner(job({ size: 16 * 1024, runtimeNs: 100e6, iodepth: 2 }), disk, clock);
    await drive(clock, r.run(), 100e6);
    expect(r.stopReason).to.equal('runtime');
    expect(r.failure?.message).to.equal('1 request still unanswered 10 s after the job stopped');
    expect(r.elapsedNs).to.be.within(10.1e9, 10.3e9);
    expect(disk.flushes).to.equal(0);
  });

  it('refuses regions that do not fit the disk', () => {
    const disk = new MemoryGuestDisk(1 << 20);
    expect(() => jobRegion(job({ offset: 1 << 20 }), disk)).to.throw(
      'offset 1048576 is beyond the end of the disk',
    );
    expect(() => jobRegion(job({ size: 2 << 20 }), disk)).to.throw('is beyond the end of the disk');
    expect(jobRegion(job({ offset: 4096, size: 8192 }), disk)).to.deep.include({
      offset: 4096,
      size: 8192,
      blocks: 2,
    });
    expect(jobRegion(job({ runtimeNs: 1e9 }), disk).ioSize).to.equal(Infinity);
  });

  it('uses fewer slots than blocks so a free block always exists', async () => {
    const clock = new VirtualClock();
    const disk = new MemoryGuestDisk(1 << 20);
    const r = new JobRunner(job({ size: 3 * 4096, iodepth: 16, ioSize: 64 * 4096 }), disk, clock);
    await drive(clock, r.run());
    expect(disk.maxInFlight).to.equal(2);
    expect(r.verify!.errors).to.equal(0);
  });
});
