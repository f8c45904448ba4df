/**
 * `vmkit run`: validate the config (every problem reported with its JSON path, nothing created),
 * build the machine and connect the guest drivers, optionally serve QMP, run the jobs with live
 * progress, then on completion, Ctrl-C or QMP `quit` stop issuing, drain, flush, and print the
 * summary. Resolves to the exit status: 0, 1 (errors), 130 (interrupted).
 */
import { rmSync } from 'node:fs';
import { mkdtemp, open, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Clock, Machine } from '@vmkit/core';
import { blockLayerOf, BlockAcctType, ThrottleDirection } from '@vmkit/block-layer';
import { QmpServer } from '@vmkit/monitor';
import { DEFAULT_IMAGE_SIZE, defaultConfig } from '../config/default-config.js';
import { ConfigIssues, formatIssue } from '../config/issues.js';
import type { RunConfig } from '../config/types.js';
import { parseConfigJson, validateConfig } from '../config/validate.js';
import { buildMachine, type DeviceHandle } from '../machine/build.js';
import { createRunMachine, machineSchema } from '../machine/plugins.js';
import { deviceSummary } from '../report/device-summary.js';
import { Progress, type ProgressSource } from '../report/progress.js';
import { formatSummary, runSummary, summaryJson } from '../report/summary.js';
import { JobRunner } from '../workload/runner.js';
import { parseRunArgs, RUN_USAGE, UsageError, type RunArgs } from './args.js';
import { describeJob } from './describe.js';

export interface RunIo {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Live lines are redrawn in place on a terminal, printed every second otherwise. */
  readonly stdoutIsTTY: boolean;
  /** Aborted on Ctrl-C: stop the jobs, drain, flush, summarize, exit 130. */
  readonly signal: AbortSignal;
  /** The machine's clock (default: the host clock; tests pass a VirtualClock). */
  readonly clock?: Clock;
}

const PROG = 'vmkit run';
export const EXIT_INTERRUPTED = 130;

/** Host milliseconds the teardown may take before vmkit run gives up on it and exits. */
const TEARDOWN_TIMEOUT_MS = 10_000;

/** Things to undo at the end, last added first. */
class Cleanup {
  private readonly steps: (() => Promise<void> | void)[] = [];
  add(step: () => Promise<void> | void): void {
    this.steps.push(step);
  }
  /** Runs the steps; false when they did not finish within TEARDOWN_TIMEOUT_MS. */
  async run(): Promise<boolean> {
    const steps = async (): Promise<boolean> => {
      for (const step of this.steps.splice(0).reverse()) {
        try {
          await step();
        } catch {
          // Best effort: the run's outcome is already decided.
        }
      }
      return true;
    };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<boolean>(
      (resolve) => (timer = setTimeout(() => resolve(false), TEARDOWN_TIMEOUT_MS)),
    );
    try {
      return await Promise.race([steps(), timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Runs `vmkit run` with `args` (after `run`); resolves to the exit status. */
export async function vmkitRun(argv: readonly string[], io: RunIo): Promise<number> {
  let args: RunArgs;
  try {
    args = parseRunArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    io.stderr(`${PROG}: ${e.message}\nTry 'vmkit run --help' for more information.\n`);
    return 1;
  }
  if (args.help) {
    io.stdout(RUN_USAGE);
    return 0;
  }
  const cleanup = new Cleanup();
  const source = args.config ?? 'default config';
  try {
    return await runMachine(args, io, cleanup);
  } catch (e) {
    if (e instanceof ConfigIssues) {
      for (const issue of e.issues) io.stderr(`${PROG}: ${source}: ${formatIssue(issue)}\n`);
      return 1;
    }
    if (e instanceof ConfigReadError) {
      io.stderr(`${PROG}: ${e.message}\n`);
      return 1;
    }
    throw e;
  } finally {
    if (!(await cleanup.run())) {
      io.stderr(`${PROG}: the machine's teardown did not finish within ${TEARDOWN_TIMEOUT_MS / 1000} s\n`);
    }
  }
}

class ConfigReadError extends Error {}

async function loadDocument(args: RunArgs, cleanup: Cleanup): Promise<{ doc: unknown; image?: string }> {
  if (args.config !== undefined) {
    let text: string;
    try {
      text = await readFile(args.config, 'utf8');
    } catch (e) {
      throw new ConfigReadError(
        `cannot read '${args.config}': ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    return { doc: parseConfigJson(text) };
  }
  const dir = await mkdtemp(join(tmpdir(), 'vmkit-run-'));
  // Also when the process ends abruptly (a second Ctrl-C, an uncaught device error).
  const removeNow = (): void => rmSync(dir, { recursive: true, force: true });
  process.once('exit', removeNow);
  cleanup.add(() => {
    process.off('exit', removeNow);
    return rm(dir, { recursive: true, force: true });
  });
  const image = join(dir, 'disk.img');
  return { doc: defaultConfig(image), image };
}

/** A sparse raw image of `size` bytes. */
async function createImage(path: string, size: number): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.truncate(size);
  } finally {
    await fh.close();
  }
}

function withRuntime(config: RunConfig, runtimeNs: number | undefined): RunConfig {
  if (runtimeNs === undefined || config.jobs === undefined) return config;
  return { ...config, jobs: config.jobs.map((j) => ({ ...j, runtimeNs })) };
}

async function runMachine(args: RunArgs, io: RunIo, cleanup: Cleanup): Promise<number> {
  const { doc, image } = await loadDocument(args, cleanup);
  const machine = await createRunMachine(io.clock);
  cleanup.add(() => machine.destroy());
  // The machine's host-clock timers are unref'd (a guest timer alone must not keep a process
  // alive); while vmkit run runs, the process lives like QEMU's main loop, until the run ends.
  const keepAlive = setInterval(() => undefined, 1 << 30);
  cleanup.add(() => clearInterval(keepAlive));
  const config = withRuntime(validateConfig(doc, machineSchema(machine)), args.runtimeNs);
  if (image !== undefined) await createImage(image, DEFAULT_IMAGE_SIZE);

  // Ctrl-C and QMP quit both end the run; only Ctrl-C makes it "interrupted" (exit 130).
  const stop = new AbortController();
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    stop.abort();
  };
  if (io.signal.aborted) return EXIT_INTERRUPTED;
  io.signal.addEventListener('abort', onSignal);
  cleanup.add(() => io.signal.removeEventListener('abort', onSignal));

  const handles = await buildMachine(machine, config);
  for (const h of handles) if (h.disk !== undefined) cleanup.add(() => h.disk!.close());

  if (args.qmp !== undefined) {
    const server = await QmpServer.listen(machine, args.qmp, { onQuit: () => stop.abort() });
    cleanup.add(() => server.close());
    io.stderr(`${PROG}: QMP listening on unix:${args.qmp}\n`);
  }

  const driven = handles.filter((h) => h.job !== undefined && h.disk !== undefined);
  const runners = driven.map((h) => newRunner(h, machine));
  if (config.jobs === undefined) {
    io.stderr(
      `${PROG}: no workload: the machine runs until Ctrl-C${args.qmp !== undefined ? ' or QMP quit' : ''}\n`,
    );
    await new Promise<void>((resolve) => {
      if (stop.signal.aborted) resolve();
      else stop.signal.addEventListener('abort', () => resolve());
    });
    return interrupted ? EXIT_INTERRUPTED : 0;
  }
  if (args.output === 'human') driven.forEach((h, i) => io.stdout(`${describeJob(h, runners[i])}\n`));

  const progress = new Progress(
    (t) => io.stdout(t),
    args.output === 'json' ? 'off' : io.stdoutIsTTY ? 'tty' : 'plain',
    machine.clock,
    driven.map((h, i) => progressSource(h, runners[i])),
  );
  const stopAll = (): void => runners.forEach((r) => r.stop('interrupted'));
  stop.signal.addEventListener('abort', stopAll);
  const t0 = machine.clock.now();
  progress.start();
  if (stop.signal.aborted) stopAll();
  await Promise.all(runners.map((r) => r.run()));
  progress.stop();
  const seconds = (machine.clock.now() - t0) / 1e9;

  const stats = blockLayerOf(machine).queryBlockstats();
  const devices = driven.map((h, i) => {
    const entry = stats.find((s) => s.qdev === h.spec.id);
    if (entry === undefined) throw new Error(`no block statistics for device '${h.spec.id}'`);
    return deviceSummary(h, entry, runners[i]);
  });
  const summary = runSummary(devices, seconds, interrupted);
  if (args.output === 'json') io.stdout(`${JSON.stringify(summaryJson(summary), null, 2)}\n`);
  else
    io.stdout(
      formatSummary(summary)
        .map((l) => `${l}\n`)
        .join(''),
    );
  if (interrupted) return EXIT_INTERRUPTED;
  const failed =
    summary.ioErrors > 0 || (summary.verify?.errors ?? 0) > 0 || devices.some((d) => d.failure !== null);
  return failed ? 1 : 0;
}

function newRunner(h: DeviceHandle, machine: Machine): JobRunner {
  try {
    return new JobRunner(h.job!, h.disk!, machine.clock);
  } catch (e) {
    throw new ConfigIssues([
      { path: h.job!.path, message: `${h.spec.id}: ${e instanceof Error ? e.message : String(e)}` },
    ]);
  }
}

function progressSource(h: DeviceHandle, runner: JobRunner): ProgressSource {
  const { nrOps, nrBytes } = h.blk.stats;
  return {
    id: h.spec.id,
    type: h.spec.type,
    runtimeNs: runner.job.runtimeNs,
    sample: () => ({
      reads: nrOps[BlockAcctType.READ],
      writes: nrOps[BlockAcctType.WRITE],
      bytes: nrBytes[BlockAcctType.READ] + nrBytes[BlockAcctType.WRITE],
      inFlight: runner.counters.inFlight,
      throttled:
        h.blk.throttle.queuedRequests(ThrottleDirection.read) +
        h.blk.throttle.queuedRequests(ThrottleDirection.write),
    }),
  };
}
