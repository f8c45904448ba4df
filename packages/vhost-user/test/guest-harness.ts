// Typings and loaders for the real-guest harness (../guest: plain JavaScript modules run as they
// are, outside the compiled tree), and the steps the real-guest tests share: skipping without
// QEMU or a guest, starting one run per firmware, and the checks every full-check run must pass.
// Only the parts the tests use.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface Range {
  start: number;
  count: number;
}
export interface CheckLayout {
  blocks: number;
  read4k: number;
  read1m: number;
  write4k: number;
  write1m: number;
  discard: Range;
  fsync: Range;
  fio: Range;
}
export interface StepResult {
  step: string;
  ok: boolean;
  fields: Record<string, string>;
}
export interface GuestRun {
  done: boolean;
  timedOut: boolean;
  durationMs: number;
  steps: StepResult[];
  console: string;
}
export interface FullCheck {
  run: GuestRun;
  failures: string[];
  imageMismatches: Range[];
}
export type Firmware = 'seabios' | 'qboot';
export type GuestBackend = { kind: 'qemu-virtio'; image: string } | { kind: 'vhost-user'; socket: string };
export interface LayoutModule {
  DEFAULT_LAYOUT: CheckLayout;
  BLOCK: number;
  blockPattern(tag: string, block: number): Buffer;
  createCheckImage(path: string, layout?: CheckLayout): { md5: string; bytes: number };
  verifyCheckImage(path: string, layout?: CheckLayout): Range[];
}
export interface RunGuestModule {
  QEMU_BINARY: string;
  QBOOT_ROM: string;
  parseResultLine(line: string): StepResult | null;
  fullCheckFailures(run: GuestRun): string[];
  runFullCheck(o: {
    guest: { kernel: string; initrd: string };
    image: string;
    md5: string;
    backend: GuestBackend;
    firmware: Firmware;
    timeoutMs: number;
  }): Promise<FullCheck>;
}
export interface RunningDaemon {
  output(): string;
  stop(): Promise<void>;
}
export interface DaemonsModule {
  startDaemon(name: string, argv: string[], socket: string, timeoutMs?: number): Promise<RunningDaemon>;
}
export interface PreparedGuest {
  kernel: string;
  initrd: string;
  kernelRelease: string;
}
export interface PrepareModule {
  GuestUnavailableError: new (message: string) => Error;
  prepareGuest(o?: { log?: (e: unknown) => void }): PreparedGuest;
}

export const guestDir = fileURLToPath(new URL('../../guest/', import.meta.url));

/** Imports one of the harness modules (`layout.mjs`, `run-guest.mjs`, ...). */
export const loadGuestModule = async <T>(name: string): Promise<T> =>
  (await import(pathToFileURL(join(guestDir, name)).href)) as T;

export function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n');
}

/** Skips the suite whose before() is running, saying why (mocha itself says nothing of it). */
export function skipGuestSuite(ctx: Mocha.Context, why: string): never {
  console.log(`      real-guest test skipped: ${why}`);
  ctx.skip();
}

/** What a real-guest suite's before() has once nothing made it skip. */
export interface GuestSuite {
  runGuest: RunGuestModule;
  layout: LayoutModule;
  guest: PreparedGuest;
  /** A new temporary directory for the images; the suite removes it in after(). */
  dir: string;
  /** seabios, and qboot when its ROM is installed. */
  firmwares: Firmware[];
}

/**
 * The start of a real-guest suite's before(): skips without qemu-system-x86_64, then for the
 * reason `whyNot` gives (the suite's own requirements), then when the guest cannot be prepared;
 * otherwise loads the harness, prepares the guest and makes a directory named `dirPrefix`-XXXXXX.
 */
export async function startGuestSuite(
  ctx: Mocha.Context,
  dirPrefix: string,
  whyNot: () => string | undefined = () => undefined,
): Promise<GuestSuite> {
  if (spawnSync('sh', ['-c', 'command -v qemu-system-x86_64'], { stdio: 'ignore' }).status !== 0) {
    skipGuestSuite(ctx, 'qemu-system-x86_64 not found (apt-get install qemu-system-x86)');
  }
  const why = whyNot();
  if (why !== undefined) skipGuestSuite(ctx, why);
  const runGuest = await loadGuestModule<RunGuestModule>('run-guest.mjs');
  const layout = await loadGuestModule<LayoutModule>('layout.mjs');
  const prepare = await loadGuestModule<PrepareModule>('prepare.mjs');
  let guest: PreparedGuest;
  try {
    guest = prepare.prepareGuest({ log: () => {} });
  } catch (e) {
    if (e instanceof prepare.GuestUnavailableError) skipGuestSuite(ctx, e.message);
    throw e;
  }
  const dir = mkdtempSync(join(tmpdir(), `${dirPrefix}-`));
  const firmwares: Firmware[] = existsSync(runGuest.QBOOT_ROM) ? ['seabios', 'qboot'] : ['seabios'];
  return { runGuest, layout, guest, dir, firmwares };
}

/**
 * Starts `run` for every firmware of the suite into `runs`: all at once when there are CPUs for
 * it (each TCG guest keeps one busy), otherwise one after the other. Each test awaits (and so
 * reports) its own run.
 */
export function startRuns<T>(
  runs: Map<Firmware, Promise<T>>,
  firmwares: readonly Firmware[],
  run: (firmware: Firmware) => Promise<T>,
): void {
  let previous: Promise<unknown> = Promise.resolve();
  for (const firmware of firmwares) {
    const start = () => run(firmware);
    const started = availableParallelism() >= 2 ? start() : previous.then(start, start);
    started.catch(() => {}); // awaited (and reported) by its test
    previous = started;
    runs.set(firmware, started);
  }
}

/** The run of `firmware`; skips the test, saying why, when it was not started (no qboot ROM). */
export async function runOf<T>(
  ctx: Mocha.Context,
  suite: GuestSuite,
  runs: ReadonlyMap<Firmware, Promise<T>>,
  firmware: Firmware,
): Promise<T> {
  const pending = runs.get(firmware);
  if (!pending) {
    console.log(`      ${firmware} run skipped: ${suite.runGuest.QBOOT_ROM} not found`);
    ctx.skip();
  }
  return pending;
}

/** The guest console's last lines, as the context of a failed expectation. */
export function consoleContext(firmware: Firmware, check: FullCheck): string {
  return `${firmware} guest console (end):\n${lastLines(check.run.console, 40)}`;
}

/**
 * What every full-check run must show, whatever served the disk: no step failed or missing, the
 * image holds exactly what the guest wrote, the prepared kernel booted, and (both backends offer a
 * write-back cache) the guest's fsync sent a FLUSH. Prints the run's duration first.
 */
export function expectFullCheckPassed(
  firmware: Firmware,
  r: FullCheck,
  guest: PreparedGuest,
  context: string,
): void {
  console.log(`      ${firmware}: boot + checks ${(r.run.durationMs / 1000).toFixed(1)} s`);
  expect(r.failures, context).to.deep.equal([]);
  expect(r.imageMismatches, context).to.deep.equal([]);
  const setup = r.run.steps.find((s) => s.step === 'setup')!;
  expect(setup.fields.kernel).to.equal(guest.kernelRelease);
  const fsync = r.run.steps.find((s) => s.step === 'fsync')!;
  expect(fsync.fields.wce, context).to.equal('1');
  expect(Number(fsync.fields.flushes), context).to.be.greaterThan(0);
}
