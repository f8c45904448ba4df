/**
 * virtio-blk throughput: 4 KiB random reads at queue depth 32 on a null-co node, issued by the
 * testing driver through virtio-mmio and guest memory (with and without an IOThread), and the
 * same load issued directly on a BlockBackend with the AIO API.
 *
 * The setups (direct, direct with a device's accounting, device in the main context, device
 * with an IOThread) are measured in interleaved rounds and the best round of each is kept, so a
 * busy machine penalises them alike. IOPS are computed on the process's CPU time (user + system)
 * and on wall time; the ratio device/direct uses CPU time. One JSON object per line.
 *
 * Run: npm run bench (in packages/virtio-blk, after a build). Environment: VMKIT_BENCH_REQUESTS
 * (per round, default 300000), VMKIT_BENCH_ROUNDS (default 5). `node dist/bench/virtio-blk.bench.js
 * <setup name>` runs one setup alone (for profiling).
 */
import { GuestMemory, IOVector, Machine } from '@vmkit/core';
import {
  BlockAcctCookie,
  BlockAcctType,
  BlockLayer,
  blockLayerPlugin,
  type BlockBackend,
} from '@vmkit/block-layer';
import { createVirtioMmioSlot, virtioPlugin } from '@vmkit/virtio';
import { GuestAllocator } from '@vmkit/virtio/testing';
import { virtioBlkPlugin } from '../src/index.js';
import { VirtioBlkDriver, VirtioBlkLoad } from '../src/testing/index.js';

const DEPTH = 32;
const BS = 4096;
const DISK = 1 << 30;
const REQUESTS = Number(process.env['VMKIT_BENCH_REQUESTS'] ?? 300_000);
const ROUNDS = Number(process.env['VMKIT_BENCH_ROUNDS'] ?? 5);
const RAM = 0x4000_0000;
const RAM_SIZE = 8 << 20;

/** Blocks of the disk (a power of two: the block is the low bits of the generator state). */
const BLOCKS = DISK / BS;

/**
 * xorshift32 over 4 KiB blocks: the same offsets for every setup. The state is kept as a signed
 * 32-bit integer and reduced with a mask, so the harness neither boxes numbers nor calls a
 * floating-point remainder per request (its cost counts in every setup's figure).
 */
class Offsets {
  private x = 0x9e3779b9 | 0;
  next(): number {
    let x = this.x;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.x = x;
    return (x & (BLOCKS - 1)) * BS;
  }
}

interface Round {
  /** Wall-clock nanoseconds. */
  wallNs: number;
  /** CPU microseconds (user + system). */
  cpuUs: number;
}

interface Setup {
  readonly name: string;
  measure(count: number): Promise<Round>;
  extra(): Record<string, unknown>;
  close(): Promise<void>;
}

function startClock(): () => Round {
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  return () => {
    const cpu = process.cpuUsage(cpu0);
    return { wallNs: Number(process.hrtime.bigint() - t0), cpuUs: cpu.user + cpu.system };
  };
}

async function newMachine(): Promise<{ machine: Machine; layer: BlockLayer }> {
  const machine = await Machine.create({ plugins: [blockLayerPlugin, virtioPlugin, virtioBlkPlugin] });
  await machine.blockdevAdd({ driver: 'null-co', nodeName: 'null0', size: DISK });
  return { machine, layer: machine.blockLayer as BlockLayer };
}

async function deviceSetup(iothread: boolean): Promise<Setup> {
  const { machine } = await newMachine();
  if (iothread) machine.objectAdd({ type: 'iothread', id: 'io0' });
  const memory = new GuestMemory();
  memory.addRegion(RAM, new ArrayBuffer(RAM_SIZE), 'ram');
  const slot = createVirtioMmioSlot(machine, { memory });
  await machine.deviceAdd({
    type: 'virtio-blk',
    id: 'vda',
    drive: 'null0',
    ...(iothread ? { iothread: 'io0' } : {}),
  });
  const driver = new VirtioBlkDriver(slot, memory, { allocator: new GuestAllocator(RAM, RAM_SIZE) });
  slot.setInterruptHandler(driver.irq);
  driver.init({ queueSize: 256 });
  const load = new VirtioBlkLoad(driver, { slots: DEPTH, bytes: BS });
  const offsets = new Offsets();
  let kicks = 0;
  let interrupts = 0;
  let requests = 0;
  return {
    name: iothread ? 'device-iothread' : 'device-main',
    measure: (count) =>
      new Promise((resolve, reject) => {
        let submitted = 0;
        let done = 0;
        const k0 = load.kicks;
        const i0 = driver.interrupts;
        const stop = startClock();
        load.setCallback((s, status) => {
          if (status !== 0) reject(new Error(`status ${status}`));
          done++;
          if (submitted < count) {
            load.submit(s, offsets.next() / 512);
            submitted++;
          }
          if (done === count) {
            const r = stop();
            kicks += load.kicks - k0;
            interrupts += driver.interrupts - i0;
            requests += count;
            resolve(r);
          }
        });
        for (let s = 0; s < DEPTH; s++) {
          load.submit(s, offsets.next() / 512);
          submitted++;
        }
        load.publish();
      }),
    extra: () => ({ requestsPerKick: requests / kicks, requestsPerInterrupt: requests / interrupts }),
    close: () => machine.destroy(),
  };
}

class DirectSlot {
  readonly qiov = IOVector.fromBuffer(new Uint8Array(BS));
  readonly cookie = new BlockAcctCookie();
  constructor(readonly run: DirectRun) {}
}

class DirectRun {
  submitted = 0;
  done = 0;
  constructor(
    readonly blk: BlockBackend,
    readonly offsets: Offsets,
    readonly count: number,
    readonly account: boolean,
    readonly finish: () => void,
  ) {}

  submit(slot: DirectSlot): void {
    this.submitted++;
    if (this.account) this.blk.acctStart(slot.cookie, BS, BlockAcctType.READ);
    this.blk.aioPreadv(this.offsets.next(), slot.qiov, 0, directCb, slot);
  }
}

/** The device-style completion: a shared function, the slot as opaque, resubmit at once. */
function directCb(slot: DirectSlot, ret: number): void {
  const run = slot.run;
  if (ret < 0) throw new Error(`ret ${ret}`);
  if (run.account) run.blk.acctDone(slot.cookie);
  run.done++;
  if (run.submitted < run.count) run.submit(slot);
  if (run.done === run.count) run.finish();
}

/** The load on a BlockBackend with the AIO API; `account` adds a device's start/done accounting. */
async function directSetup(account: boolean): Promise<Setup> {
  const { machine, layer } = await newMachine();
  const blk = layer.blockBackend('null0');
  const offsets = new Offsets();
  return {
    name: account ? 'direct-blockbackend-accounted' : 'direct-blockbackend',
    measure: (count) =>
      new Promise((resolve) => {
        const stop = startClock();
        const run = new DirectRun(blk, offsets, count, account, () => resolve(stop()));
        for (let s = 0; s < DEPTH; s++) run.submit(new DirectSlot(run));
      }),
    extra: () => ({}),
    close: async () => {
      await blk.unref();
      await machine.destroy();
    },
  };
}

interface Best {
  cpuIops: number;
  wallIops: number;
}

function print(setup: Setup, best: Best): void {
  console.log(
    JSON.stringify({
      bench: `virtio-blk/${setup.name}`,
      figure: Math.round(best.cpuIops),
      unit: 'IOPS (per CPU second)',
      wallIops: Math.round(best.wallIops),
      config: {
        driver: 'null-co',
        bs: BS,
        depth: DEPTH,
        pattern: 'randread',
        requests: REQUESTS,
        rounds: ROUNDS,
      },
      ...setup.extra(),
    }),
  );
}

async function main(): Promise<void> {
  const only = process.argv[2];
  const all = [
    await directSetup(false),
    await directSetup(true),
    await deviceSetup(false),
    await deviceSetup(true),
  ];
  const setups = only === undefined ? all : all.filter((s) => s.name === only || s.name === `device-${only}`);
  if (setups.length === 0) throw new Error(`unknown setup '${only}'`);
  const best = new Map<Setup, Best>(setups.map((s) => [s, { cpuIops: 0, wallIops: 0 }]));
  // Warm-up round (JIT), not counted.
  for (const s of setups) await s.measure(Math.min(REQUESTS, 50_000));
  for (let round = 0; round < ROUNDS; round++) {
    for (const s of setups) {
      const r = await s.measure(REQUESTS);
      const b = best.get(s)!;
      b.cpuIops = Math.max(b.cpuIops, REQUESTS / (r.cpuUs / 1e6));
      b.wallIops = Math.max(b.wallIops, REQUESTS / (r.wallNs / 1e9));
    }
  }
  for (const s of setups) print(s, best.get(s)!);
  const direct = best.get(all[0]);
  const accounted = best.get(all[1]);
  if (direct !== undefined && accounted !== undefined) {
    for (const s of setups.slice(2)) {
      const b = best.get(s)!;
      console.log(
        JSON.stringify({
          bench: `virtio-blk/ratio-${s.name}`,
          figure: Number((b.cpuIops / direct.cpuIops).toFixed(3)),
          unit: 'device/direct (CPU-time IOPS)',
          wallRatio: Number((b.wallIops / direct.wallIops).toFixed(3)),
          vsAccountedDirect: Number((b.cpuIops / accounted.cpuIops).toFixed(3)),
          nsPerRequest: Math.round(1e9 / b.cpuIops),
          directNsPerRequest: Math.round(1e9 / direct.cpuIops),
          goal: 0.7,
        }),
      );
    }
  }
  for (const s of all) await s.close();
}

await main();
