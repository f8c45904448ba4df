// The guest benchmark's pure parts (no QEMU): job names, the daemon's held-interrupt report and
// the means with their ratios.
import { expect } from 'chai';
import { loadGuestModule } from './guest-harness.js';

interface BenchJob {
  rw: string;
  bs: string;
  depth: number;
}

interface Sample {
  job: string;
  backend: string;
  round: number;
  iops: number;
  mibps: number;
  latUs: number;
  irqsPerIo: number;
  daemonCpuUsPerIo: number;
  daemonMainCpuUsPerIo: number;
}

interface BenchModule {
  parseJobName(name: string): BenchJob;
  parseHeldReport(output: string): { interruptsHeld: number; heldExpired: number; holdUs: number } | null;
  summarize(samples: Sample[], baseline: string): Record<string, unknown>[];
  VMKIT_TEMPLATES: Readonly<Record<string, string>>;
}

describe('guest benchmark script (bench-guest.mjs)', () => {
  let bench: BenchModule;
  before(async () => {
    bench = await loadGuestModule<BenchModule>('bench-guest.mjs');
  });

  it('job names: the issue jobs, and any of them at queue depth N with -qdN', () => {
    expect(bench.parseJobName('randread-4k')).to.deep.equal({ rw: 'randread', bs: '4k', depth: 16 });
    expect(bench.parseJobName('randwrite-4k-qd1')).to.deep.equal({ rw: 'randwrite', bs: '4k', depth: 1 });
    expect(bench.parseJobName('read-1m-qd256')).to.deep.equal({ rw: 'read', bs: '1m', depth: 256 });
  });

  it('job names: unknown jobs and depths out of 1..256 are refused, naming the jobs', () => {
    for (const bad of ['randread-8k', 'randread-4k-qd0', 'randread-4k-qd257', 'write', 'randread-4k-qdx']) {
      expect(() => bench.parseJobName(bad), bad).to.throw(
        Error,
        `unknown job '${bad}' (jobs: randread-4k, read-1m, randwrite-4k, each optionally -qdN with N in 1..256)`,
      );
    }
  });

  it("reads the last 'interrupts held' report of the daemon's output", () => {
    const out =
      "vmkit-storage-daemon: export 'vu0': client connected\n" +
      "vmkit-storage-daemon: export 'vu0': client disconnected (peer closed the connection), 5 interrupts held (1 for the full 500 µs)\n" +
      "vmkit-storage-daemon: export 'vu0': client disconnected (peer closed the connection), 18398 interrupts held (882 for the full 1000 µs)\n";
    expect(bench.parseHeldReport(out)).to.deep.equal({
      interruptsHeld: 18398,
      heldExpired: 882,
      holdUs: 1000,
    });
    expect(
      bench.parseHeldReport("export 'vu0': client disconnected (peer closed the connection)\n"),
    ).to.equal(null);
  });

  it('means per job and backend, with latency and the ratio to the baseline', () => {
    const s = (backend: string, round: number, iops: number, latUs: number): Sample => ({
      job: 'randread-4k',
      backend,
      round,
      iops,
      mibps: iops / 256,
      latUs,
      irqsPerIo: 1,
      daemonCpuUsPerIo: 20,
      daemonMainCpuUsPerIo: 12,
    });
    const lines = bench.summarize(
      [s('vmkit', 1, 5000, 300), s('qsd', 1, 4000, 400), s('vmkit', 2, 5400, 320), s('qsd', 2, 4400, 380)],
      'qsd',
    );
    expect(lines).to.deep.equal([
      {
        summary: 'mean',
        job: 'randread-4k',
        backend: 'vmkit',
        iops: 5200,
        mibps: 20.3,
        latUs: 310,
        baseline: 'qsd',
        ratio: 1.238,
      },
      {
        summary: 'mean',
        job: 'randread-4k',
        backend: 'qsd',
        iops: 4200,
        mibps: 16.4,
        latUs: 390,
        baseline: 'qsd',
        ratio: 1,
      },
    ]);
  });

  it("daemon CPU: the whole process's, or its main thread's alone; NaN when unreadable", async () => {
    const { processCpuSeconds } = await loadGuestModule<{
      processCpuSeconds(pid: number | undefined, thread?: number): number;
    }>('daemons.mjs');
    const t0 = processCpuSeconds(process.pid, process.pid);
    // Spin on this (the main) thread until its CPU time moves on by a clock tick (10 ms).
    let main = t0;
    for (const until = Date.now() + 10_000; main === t0 && Date.now() < until;) {
      for (let i = 0; i < 1e5; i++) Math.sqrt(i);
      main = processCpuSeconds(process.pid, process.pid);
    }
    const all = processCpuSeconds(process.pid);
    expect(main).to.be.above(t0);
    expect(all).to.be.at.least(main);
    expect(processCpuSeconds(process.pid, 2 ** 31 - 1)).to.be.NaN;
    expect(processCpuSeconds(undefined)).to.be.NaN;
  });

  it('built-in templates: vmkit is vmkit-plain with interrupt coalescing', () => {
    const { vmkit, 'vmkit-plain': plain } = bench.VMKIT_TEMPLATES;
    expect(plain).to.contain('{image}').and.contain('{socket}').and.contain('vmkit-storage-daemon.js');
    expect(vmkit).to.equal(`${plain},coalesce-frames=16,coalesce-usecs=1000`);
  });
});
