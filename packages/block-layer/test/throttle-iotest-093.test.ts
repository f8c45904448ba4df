import { expect } from 'chai';
import { AioContext, VirtualClock } from '@vmkit/core';
import {
  assertThrottleConfigValid,
  blockIoThrottleToConfig,
  ThrottleDirection,
  throttleEnabled,
  ThrottleGroupMember,
  ThrottleGroupRegistry,
  type BlockIoThrottle,
} from '../src/throttle/index.js';

/**
 * QEMU iotest 093 (I/O throttling) against ThrottleGroupMembers directly: a small "VM" whose
 * drives issue 512-byte reads and writes the way qemu-io's aio_read/aio_write do through a
 * BlockBackend (intercept, then count the request when released), a virtual clock stepped like
 * qtest's clock_step, and block_set_io_throttle modelled on qmp_block_set_io_throttle.
 *
 * The iotest accepts ±10% of limit·seconds/ndrives. Here every count is exact: the expected
 * tables are the figures QEMU 7.2 itself produced for the same command sequence (run under
 * qtest with null-aio drives, query-blockstats after each step), and the comments derive them
 * from the bucket arithmetic.
 */

const NSEC_PER_SEC = 1_000_000_000;
const RQ_SIZE = 512;

type Stats = [rdBytes: number, rdOps: number, wrBytes: number, wrOps: number];
type Limits = Pick<BlockIoThrottle, 'bps' | 'bps_rd' | 'bps_wr' | 'iops' | 'iops_rd' | 'iops_wr'>;
type LimitName = keyof Limits;
const LIMIT_NAMES: readonly LimitName[] = ['bps', 'bps_rd', 'bps_wr', 'iops', 'iops_rd', 'iops_wr'];
const PARAMS: Limits = { bps: 4096, bps_rd: 4096, bps_wr: 4096, iops: 10, iops_rd: 10, iops_wr: 10 };

function only(name: LimitName, value: number): Limits {
  const l: Limits = { bps: 0, bps_rd: 0, bps_wr: 0, iops: 0, iops_rd: 0, iops_wr: 0 };
  l[name] = value;
  return l;
}

class Drive {
  readonly member: ThrottleGroupMember;
  readonly stats: Stats = [0, 0, 0, 0];
  constructor(readonly name: string) {
    this.member = new ThrottleGroupMember(name);
  }

  /** blk_co_preadv/pwritev: the throttle intercept, then the (instant) null-aio request. */
  aio(dir: ThrottleDirection, bytes: number): void {
    const index = dir === ThrottleDirection.read ? 0 : 2;
    const p = this.member.intercept(bytes, dir);
    if (p === undefined) this.done(index, bytes);
    else void p.then(() => this.done(index, bytes));
  }

  private done(index: 0 | 2, bytes: number): void {
    this.stats[index] += bytes;
    this.stats[index + 1]++;
  }
}

class Vm {
  readonly clock = new VirtualClock();
  readonly ctx = new AioContext({ name: 'main', clock: this.clock });
  readonly registry = new ThrottleGroupRegistry(this.clock);
  readonly drives: Drive[];

  constructor(ndrives = 3) {
    this.drives = Array.from({ length: ndrives }, (_, i) => new Drive(`drive${i}`));
  }

  drive(name: string): Drive {
    return this.drives.find((d) => d.name === name)!;
  }

  /** qtest clock_step: timers fire in order, each at its deadline. */
  async clockStep(ns: number): Promise<void> {
    await this.clock.advance(ns);
  }

  /** A main-loop turn between monitor commands: due timers and continuations run. */
  async mainLoop(): Promise<void> {
    await this.clock.advance(0);
  }

  /** qmp_block_set_io_throttle. */
  async blockSetIoThrottle(args: BlockIoThrottle & { device: string }): Promise<void> {
    const d = this.drive(args.device);
    const cfg = blockIoThrottleToConfig(args);
    assertThrottleConfigValid(cfg);
    const m = d.member;
    if (throttleEnabled(cfg)) {
      if (m.group === null) {
        m.register(this.registry, args.group ?? args.device, this.ctx);
      } else if (args.group !== undefined && args.group !== m.groupName) {
        this.ioLimitsDisable(m);
        m.register(this.registry, args.group, this.ctx);
      }
      m.setConfig(cfg);
    } else if (m.group !== null) {
      this.ioLimitsDisable(m);
    }
    await this.mainLoop();
  }

  /** blk_io_limits_disable: drained_begin releases the queue, then unregister, drained_end. */
  private ioLimitsDisable(m: ThrottleGroupMember): void {
    m.ioLimitsDisabledInc();
    m.unregister();
    m.ioLimitsDisabledDec();
  }

  /** HMP `qemu-io driveN "aio_read|aio_write OFF LEN"`. */
  async qemuIo(drive: string, op: 'aio_read' | 'aio_write', len: number): Promise<void> {
    this.drive(drive).aio(op === 'aio_read' ? ThrottleDirection.read : ThrottleDirection.write, len);
    await this.mainLoop();
  }

  blockstats(drive: string): Stats {
    return [...this.drive(drive).stats] as Stats;
  }
}

interface Run {
  start: Stats[];
  deltas: Stats[];
  after: Stats[];
}

async function configureThrottle(vm: Vm, ndrives: number, params: Partial<BlockIoThrottle>): Promise<void> {
  for (let i = 0; i < ndrives; i++) {
    await vm.blockSetIoThrottle({ ...(params as Limits), group: 'test', device: `drive${i}` });
  }
}

/** iotest 093 do_test_throttle, returning the stats it checks. */
async function doTestThrottle(
  vm: Vm,
  ndrives: number,
  seconds: number,
  params: Limits,
  firstDrive = 0,
): Promise<Run> {
  const ns = seconds * NSEC_PER_SEC;
  await vm.clockStep(ns);
  const div = (a: number, b: number): number => Math.floor(a / b);
  let rdNr = Math.max(
    div(div(params.bps, RQ_SIZE), 2),
    div(params.bps_rd, RQ_SIZE),
    div(params.iops, 2),
    params.iops_rd,
  );
  rdNr = div(rdNr * seconds * 2, ndrives);
  let wrNr = Math.max(
    div(div(params.bps, RQ_SIZE), 2),
    div(params.bps_wr, RQ_SIZE),
    div(params.iops, 2),
    params.iops_wr,
  );
  wrNr = div(wrNr * seconds * 2, ndrives);
  const names = Array.from({ length: ndrives }, (_, i) => `drive${firstDrive + i}`);
  for (let i = 0; i < rdNr; i++) for (const n of names) await vm.qemuIo(n, 'aio_read', RQ_SIZE);
  for (let i = 0; i < wrNr; i++) for (const n of names) await vm.qemuIo(n, 'aio_write', RQ_SIZE);
  const start = names.map((n) => vm.blockstats(n));
  await vm.clockStep(ns);
  const end = names.map((n) => vm.blockstats(n));
  const deltas = end.map((e, i) => e.map((v, j) => v - start[i][j]) as Stats);
  await vm.clockStep(ns);
  const after = names.map((n) => vm.blockstats(n));
  return { start, deltas, after };
}

/** The iotest's own ±10% check, kept as a sanity check on the exact figures. */
function checkLimit(limit: number, num: number, seconds: number, ndrives: number): boolean {
  return limit === 0 || (num < (seconds * limit * 1.1) / ndrives && num > (seconds * limit * 0.9) / ndrives);
}

function checkAll(params: Limits, deltas: Stats[], seconds: number): void {
  const nd = deltas.length;
  for (const [rdBytes, rdOps, wrBytes, wrOps] of deltas) {
    expect(checkLimit(params.bps, rdBytes + wrBytes, seconds, nd)).to.equal(true);
    expect(checkLimit(params.bps_rd, rdBytes, seconds, nd)).to.equal(true);
    expect(checkLimit(params.bps_wr, wrBytes, seconds, nd)).to.equal(true);
    expect(checkLimit(params.iops, rdOps + wrOps, seconds, nd)).to.equal(true);
    expect(checkLimit(params.iops_rd, rdOps, seconds, nd)).to.equal(true);
    expect(checkLimit(params.iops_wr, wrOps, seconds, nd)).to.equal(true);
  }
}

interface Expected {
  limits: Partial<Limits>;
  /** Per drive: what the iotest measures over its window. */
  deltas: Stats[];
  /** Per drive: cumulative stats after the extra clock step (shows what carries over). */
  after: Stats[];
}

function limitsOf(e: Expected): Limits {
  return { ...only('bps', 0), ...e.limits };
}

/** Requests of one drive differ from another's by at most one per direction: an even split. */
function expectEvenSplit(deltas: Stats[]): void {
  for (const index of [1, 3]) {
    const ops = deltas.map((d) => d[index]);
    expect(Math.max(...ops) - Math.min(...ops)).to.be.at.most(1);
  }
}

/*
 * test_all: 1, 2 then 3 drives in group "test", each limit in turn at (base · ndrives), in one VM
 * (so stats accumulate and the group's member list is [drive2, drive1, drive0]).
 *
 * Derivation for one drive (the others split the same group total round robin):
 * - bps_rd 4096 (no burst): the bucket holds avg/10 = 409.6 bytes. At T0 the first read passes
 *   (level 512); the next waits (512 - 409.6)/4096 s = 24999999 ns (409.6 is inexact, the
 *   truncation loses the last ns), then one read per 512/4096 s = 125 ms: releases at
 *   25 + 125·k ms <= 5000 give k = 0..39, so 40 reads = 20480 bytes = limit · 5 s exactly.
 * - iops_rd 10: the bucket holds 1 op, so two reads pass at T0 and then one per 100 ms: 50.
 * - bps 4096 (total, reads and writes): the first read passes; the read and the write timers
 *   are both armed for 25 ms (each direction has its own timer and both see the same level), so
 *   at 25 ms one read and one write go together. From then on the shared bucket alternates
 *   them every 125 ms: reads at 25, 150, 400, 650 ... 4900 ms (21), writes at 25, 275, 525 ...
 *   4775 ms (20), i.e. 41 requests, one more than 4096 · 5 / 512 because of that double start.
 * - iops 10 (total): likewise 26 reads + 25 writes = 51 (reads at 100, 200, 400 ... 5000 ms,
 *   writes at 100, 300 ... 4900 ms).
 * With 2 or 3 drives the group total is the same per drive, split by round robin; the one
 * extra request of the double start goes to drive1, the first member after the token holder.
 */
const TEST_ALL: Expected[] = [
  { limits: { bps: 4096 }, deltas: [[10752, 21, 10240, 20]], after: [[20480, 40, 20480, 40]] },
  { limits: { bps_rd: 4096 }, deltas: [[20480, 40, 0, 0]], after: [[61440, 120, 20480, 40]] },
  { limits: { bps_wr: 4096 }, deltas: [[0, 0, 20480, 40]], after: [[61440, 120, 61440, 120]] },
  { limits: { iops: 10 }, deltas: [[13312, 26, 12800, 25]], after: [[87040, 170, 87040, 170]] },
  { limits: { iops_rd: 10 }, deltas: [[25600, 50, 0, 0]], after: [[138240, 270, 87040, 170]] },
  { limits: { iops_wr: 10 }, deltas: [[0, 0, 25600, 50]], after: [[138240, 270, 138240, 270]] },
  {
    limits: { bps: 8192 },
    deltas: [
      [10752, 21, 10240, 20],
      [10240, 20, 10240, 20],
    ],
    after: [
      [158720, 310, 158720, 310],
      [20480, 40, 20480, 40],
    ],
  },
  {
    limits: { bps_rd: 8192 },
    deltas: [
      [20480, 40, 0, 0],
      [20480, 40, 0, 0],
    ],
    after: [
      [199680, 390, 158720, 310],
      [61440, 120, 20480, 40],
    ],
  },
  {
    limits: { bps_wr: 8192 },
    deltas: [
      [0, 0, 20480, 40],
      [0, 0, 20480, 40],
    ],
    after: [
      [199680, 390, 199680, 390],
      [61440, 120, 61440, 120],
    ],
  },
  {
    limits: { iops: 20 },
    deltas: [
      [12800, 25, 12800, 25],
      [13312, 26, 12800, 25],
    ],
    after: [
      [225280, 440, 225280, 440],
      [87040, 170, 87040, 170],
    ],
  },
  {
    limits: { iops_rd: 20 },
    deltas: [
      [25600, 50, 0, 0],
      [25600, 50, 0, 0],
    ],
    after: [
      [276480, 540, 225280, 440],
      [138240, 270, 87040, 170],
    ],
  },
  {
    limits: { iops_wr: 20 },
    deltas: [
      [0, 0, 25600, 50],
      [0, 0, 25600, 50],
    ],
    after: [
      [276480, 540, 276480, 540],
      [138240, 270, 138240, 270],
    ],
  },
  {
    limits: { bps: 12288 },
    deltas: [
      [10752, 21, 10240, 20],
      [10240, 20, 10240, 20],
      [10240, 20, 10240, 20],
    ],
    after: [
      [296960, 580, 296960, 580],
      [158720, 310, 158720, 310],
      [20480, 40, 20480, 40],
    ],
  },
  {
    limits: { bps_rd: 12288 },
    deltas: [
      [20480, 40, 0, 0],
      [20480, 40, 0, 0],
      [20480, 40, 0, 0],
    ],
    after: [
      [337920, 660, 296960, 580],
      [199680, 390, 158720, 310],
      [61440, 120, 20480, 40],
    ],
  },
  {
    limits: { bps_wr: 12288 },
    deltas: [
      [0, 0, 20480, 40],
      [0, 0, 20480, 40],
      [0, 0, 20480, 40],
    ],
    after: [
      [337920, 660, 337920, 660],
      [199680, 390, 199680, 390],
      [61440, 120, 61440, 120],
    ],
  },
  {
    limits: { iops: 30 },
    deltas: [
      [12800, 25, 12800, 25],
      [13312, 26, 12800, 25],
      [12800, 25, 12800, 25],
    ],
    after: [
      [363520, 710, 363520, 710],
      [225280, 440, 225280, 440],
      [87040, 170, 87040, 170],
    ],
  },
  {
    limits: { iops_rd: 30 },
    deltas: [
      [25600, 50, 0, 0],
      [25600, 50, 0, 0],
      [25600, 50, 0, 0],
    ],
    after: [
      [414720, 810, 363520, 710],
      [276480, 540, 225280, 440],
      [138240, 270, 87040, 170],
    ],
  },
  {
    limits: { iops_wr: 30 },
    deltas: [
      [0, 0, 25600, 50],
      [0, 0, 25600, 50],
      [0, 0, 25600, 50],
    ],
    after: [
      [414720, 810, 414720, 810],
      [276480, 540, 276480, 540],
      [138240, 270, 138240, 270],
    ],
  },
];

/*
 * test_one: three drives in the group at 3× the base limit, I/O on one drive at a time: that
 * drive gets the whole group rate (3 · 5 · 4096 / 512 = 120 requests; 121 and 151 for the total
 * limits, with the same double start as above), whichever drive it is.
 */
const TEST_ONE_PER_DRIVE: Expected[] = [
  { limits: { bps: 12288 }, deltas: [[31232, 61, 30720, 60]], after: [[61440, 120, 61440, 120]] },
  { limits: { bps_rd: 12288 }, deltas: [[61440, 120, 0, 0]], after: [[184320, 360, 61440, 120]] },
  { limits: { bps_wr: 12288 }, deltas: [[0, 0, 61440, 120]], after: [[184320, 360, 184320, 360]] },
  { limits: { iops: 30 }, deltas: [[38912, 76, 38400, 75]], after: [[261120, 510, 261120, 510]] },
  { limits: { iops_rd: 30 }, deltas: [[76800, 150, 0, 0]], after: [[414720, 810, 261120, 510]] },
  { limits: { iops_wr: 30 }, deltas: [[0, 0, 76800, 150]], after: [[414720, 810, 414720, 810]] },
];

/*
 * test_burst, per limit: rate r, burst rate 7r for 4 s. The main bucket holds 7r · 4 units
 * and fills at 7r - r = 6r per second, so during the 4 s window (24r < 28r) only the burst
 * bucket (7r/10 units, leaking at 7r) limits: exactly 7r · 4 s (224 requests of 512 bytes for
 * bps_rd 4096, 280 reads for iops_rd 10), plus the double start for total limits. The second
 * half of the submitted requests carries over into the next phase, which starts with the main
 * bucket full: exactly r · 5 s (40 requests for bps_rd, 50 for iops_rd; total limits share it).
 */
const TEST_BURST: Expected[] = [
  { limits: { bps: 28672 }, deltas: [[57856, 113, 57344, 112]], after: [[75776, 148, 72704, 142]] },
  { limits: { bps: 4096 }, deltas: [[10240, 20, 10240, 20]], after: [[106496, 208, 103424, 202]] },
  { limits: { bps_rd: 28672 }, deltas: [[114688, 224, 0, 0]], after: [[283136, 553, 135168, 264]] },
  { limits: { bps_rd: 4096 }, deltas: [[20480, 40, 0, 0]], after: [[344576, 673, 135168, 264]] },
  { limits: { bps_wr: 28672 }, deltas: [[0, 0, 114688, 224]], after: [[405504, 792, 283136, 553]] },
  { limits: { bps_wr: 4096 }, deltas: [[0, 0, 20480, 40]], after: [[405504, 792, 344576, 673]] },
  { limits: { iops: 70 }, deltas: [[72192, 141, 71680, 140]], after: [[500224, 977, 496128, 969]] },
  { limits: { iops: 10 }, deltas: [[12800, 25, 12800, 25]], after: [[538624, 1052, 534528, 1044]] },
  { limits: { iops_rd: 70 }, deltas: [[143360, 280, 0, 0]], after: [[759296, 1483, 574464, 1122]] },
  { limits: { iops_rd: 10 }, deltas: [[25600, 50, 0, 0]], after: [[836096, 1633, 574464, 1122]] },
  { limits: { iops_wr: 70 }, deltas: [[0, 0, 143360, 280]], after: [[912384, 1782, 759296, 1483]] },
  { limits: { iops_wr: 10 }, deltas: [[0, 0, 25600, 50]], after: [[912384, 1782, 836096, 1633]] },
];

describe('throttle: iotest 093 scenarios with exact counts (QEMU 7.2 figures)', () => {
  it('093 test_all: 1–3 drives in one group split the group limit evenly over 5 s', async () => {
    const vm = new Vm();
    let i = 0;
    for (let nd = 1; nd <= 3; nd++) {
      for (const tk of LIMIT_NAMES) {
        const limits = only(tk, PARAMS[tk] * nd);
        const expected = TEST_ALL[i++];
        expect(limitsOf(expected)).to.deep.equal(limits);
        await configureThrottle(vm, nd, limits);
        const run = await doTestThrottle(vm, nd, 5, limits);
        const what = `${nd} drive(s), ${tk}`;
        expect(run.deltas, what).to.deep.equal(expected.deltas);
        expect(run.after, what).to.deep.equal(expected.after);
        checkAll(limits, run.deltas, 5);
        expectEvenSplit(run.deltas);
      }
    }
    expect(vm.registry.byName('test')!.members.map((m) => m.label)).to.deep.equal([
      'drive2',
      'drive1',
      'drive0',
    ]);
  });

  it('093 test_one: one active drive of three gets the whole group limit', async () => {
    const vm = new Vm();
    for (let drive = 0; drive < 3; drive++) {
      for (const [j, tk] of LIMIT_NAMES.entries()) {
        const limits = only(tk, PARAMS[tk] * 3);
        await configureThrottle(vm, 3, limits);
        const run = await doTestThrottle(vm, 1, 5, limits, drive);
        const expected = TEST_ONE_PER_DRIVE[j];
        expect(run.deltas, `drive${drive} ${tk}`).to.deep.equal(expected.deltas);
        expect(run.after, `drive${drive} ${tk}`).to.deep.equal(expected.after);
        checkAll(limits, run.deltas, 5);
      }
    }
  });

  it('093 test_burst: 7× the rate for burst_length = 4 s, then the base rate', async () => {
    const vm = new Vm();
    let i = 0;
    for (const tk of LIMIT_NAMES) {
      const rate = PARAMS[tk];
      const burstRate = rate * 7;
      const burstLength = 4;
      const settings: Partial<BlockIoThrottle> = { ...only(tk, rate) };
      settings[`${tk}_max`] = burstRate;
      settings[`${tk}_max_length`] = burstLength;
      await configureThrottle(vm, 1, settings);
      // Wait for the bucket to empty (burst_length · burst_rate / rate seconds).
      await vm.clockStep(Math.floor((NSEC_PER_SEC * burstLength * burstRate) / rate));

      const burst = await doTestThrottle(vm, 1, burstLength, only(tk, burstRate));
      expect(burst.deltas, `${tk} at the burst rate`).to.deep.equal(TEST_BURST[i].deltas);
      expect(burst.after).to.deep.equal(TEST_BURST[i++].after);
      checkAll(only(tk, burstRate), burst.deltas, burstLength);

      const base = await doTestThrottle(vm, 1, 5, only(tk, rate));
      expect(base.deltas, `${tk} at the base rate`).to.deep.equal(TEST_BURST[i].deltas);
      expect(base.after).to.deep.equal(TEST_BURST[i++].after);
      checkAll(only(tk, rate), base.deltas, 5);
    }
  });

  it('093 test_remove_group_member: clearing drive0 drains its queue; drive1 keeps its turn', async () => {
    const vm = new Vm();
    const params = { ...only('bps_rd', 4096) };
    await configureThrottle(vm, 2, params);

    // 4 KiB at once: the 409.6-byte bucket was empty.
    await vm.qemuIo('drive0', 'aio_read', 4096);
    // Over the limit: queued, and drive0's timer is armed for (4096 - 409.6) / 4096 s = 0.9 s.
    await vm.qemuIo('drive0', 'aio_read', 2048);
    const d0 = vm.drive('drive0').member;
    const d1 = vm.drive('drive1').member;
    expect(d0.timers!.timers[0]!.deadline).to.equal(900_000_000);
    // Still over the limit; the group's one read timer is already armed.
    await vm.qemuIo('drive0', 'aio_read', 2048);
    // drive1 waits too: no timer of its own, the turn belongs to drive0.
    await vm.qemuIo('drive1', 'aio_read', 4096);
    expect(d1.timers!.timers[0]!.pending).to.equal(false);
    expect(vm.blockstats('drive0')[0]).to.equal(4096);
    expect(vm.blockstats('drive1')[0]).to.equal(0);

    // Clearing drive0's limit drains it: its queue is released regardless of the limit, then
    // it leaves the group, handing the turn to drive1.
    await vm.blockSetIoThrottle({ ...params, bps_rd: 0, device: 'drive0' });
    expect(vm.blockstats('drive0')[0]).to.equal(8192);
    expect(vm.blockstats('drive1')[0]).to.equal(0);
    expect(d0.group).to.equal(null);
    // The 8192 bytes drive0 read are in the shared bucket: drive1 waits
    // (8192 - 409.6) / 4096 s = 1.9 s (QEMU 7.2: released exactly at 1900000000 ns).
    expect(d1.timers!.timers[0]!.deadline).to.equal(1_900_000_000);
    await vm.clockStep(1_899_999_999);
    expect(vm.blockstats('drive1')[0]).to.equal(0);
    await vm.clockStep(1);
    expect(vm.blockstats('drive1')[0]).to.equal(4096);
    await vm.clockStep(5 * NSEC_PER_SEC - 1_900_000_000);
    expect(vm.blockstats('drive0')[0]).to.equal(8192);
    expect(vm.blockstats('drive1')[0]).to.equal(4096);
  });

  it('093 group naming: the default group is the device; all-zero limits remove it; group= moves one drive', async () => {
    const vm = new Vm();
    await vm.blockSetIoThrottle({ ...only('iops', 100), device: 'drive0' });
    expect(vm.drive('drive0').member.groupName).to.equal('drive0');
    expect(vm.registry.names).to.deep.equal(['drive0']);
    await vm.blockSetIoThrottle({ ...only('iops', 0), device: 'drive0' });
    expect(vm.drive('drive0').member.group).to.equal(null);
    expect(vm.registry.names).to.deep.equal([]);

    await vm.blockSetIoThrottle({ ...only('bps', 1000), device: 'drive0', group: 'a' });
    await vm.blockSetIoThrottle({ ...only('bps', 1000), device: 'drive1', group: 'a' });
    await vm.blockSetIoThrottle({ ...only('iops', 7), device: 'drive1', group: 'b' });
    expect(vm.drive('drive0').member.groupName).to.equal('a');
    expect(vm.drive('drive1').member.groupName).to.equal('b');
    expect(vm.drive('drive0').member.getConfig().buckets[0].avg).to.equal(1000);
    expect(vm.drive('drive1').member.getConfig().buckets[3].avg).to.equal(7);
    expect(vm.registry.byName('a')!.members.map((m) => m.label)).to.deep.equal(['drive0']);
  });
});
