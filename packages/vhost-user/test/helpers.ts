import { fstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { native, nativeAddonStatus } from '../src/index.js';

let reported = false;

/** For `before()`: skips the suite, saying why once, when the addon was not built. */
export function requireAddon(ctx: Mocha.Context): void {
  if (nativeAddonStatus.available) return;
  if (!reported) {
    reported = true;
    console.log(`      vhost-user tests skipped: ${nativeAddonStatus.reason}`);
  }
  ctx.skip();
}

/** Lets the event loop go round `n` times (each turn polls for I/O): no wall-clock waiting. */
export async function loopTurns(n = 3): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** O_CLOEXEC / O_NONBLOCK as the kernel reports them (/proc/self/fdinfo, octal flags). */
export function fdFlags(fd: number): { cloexec: boolean; nonblock: boolean } {
  const info = readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8');
  const flags = parseInt(/^flags:\s*([0-7]+)/m.exec(info)![1], 8);
  return { cloexec: (flags & 0o2000000) !== 0, nonblock: (flags & 0o4000) !== 0 };
}

export function isOpen(fd: number): boolean {
  try {
    fstatSync(fd);
    return true;
  } catch {
    return false;
  }
}

/** What the descriptor refers to, e.g. `/memfd:name (deleted)` or `anon_inode:[eventfd]`. */
export function fdTarget(fd: number): string {
  return readlinkSync(`/proc/self/fd/${fd}`);
}

/** A fresh directory for socket files; remove with `rmSync(dir, { recursive: true })`. */
export function socketDir(): string {
  return mkdtempSync(join(tmpdir(), 'vmkit-vu-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

let gcFn: (() => void) | undefined;

/** V8's gc(), enabled at run time so that mocha needs no --expose-gc. */
export function gc(): () => void {
  if (!gcFn) {
    setFlagsFromString('--expose-gc');
    gcFn = runInNewContext('gc') as () => void;
  }
  return gcFn;
}

/** Collects garbage until `done()` holds or `rounds` runs out (finalizers run on later turns). */
export async function collectUntil(done: () => boolean, rounds = 20): Promise<boolean> {
  const collect = gc();
  for (let i = 0; i < rounds && !done(); i++) {
    collect();
    await loopTurns(2);
  }
  return done();
}

/** Native object counts once earlier tests' garbage is collected: a baseline for leak checks. */
export async function settledCounts(): Promise<{ mappings: number; watchers: number }> {
  let last = native.debug_counts();
  for (let i = 0; i < 20; i++) {
    await collectUntil(() => false, 2);
    const now = native.debug_counts();
    if (now.mappings === last.mappings && now.watchers === last.watchers) return now;
    last = now;
  }
  return last;
}

/** Lines of /proc/self/maps naming `name` (a memfd shows as `/memfd:<name> (deleted)`). */
export function mapsLines(name: string): string[] {
  return readFileSync('/proc/self/maps', 'utf8')
    .split('\n')
    .filter((l) => l.includes(`/memfd:${name} `));
}

/**
 * Runs `body` with mocha's uncaughtException handlers replaced by a collector, restores them,
 * and returns what was thrown from callbacks meanwhile (errors thrown by native callbacks reach
 * Node's uncaughtException, not the caller).
 */
export async function catchUncaught(body: () => Promise<void>): Promise<unknown[]> {
  const caught: unknown[] = [];
  const handler = (err: unknown): void => {
    caught.push(err);
  };
  const mochaHandlers = process.listeners('uncaughtException');
  process.removeAllListeners('uncaughtException');
  process.on('uncaughtException', handler);
  try {
    await body();
  } finally {
    process.removeListener('uncaughtException', handler);
    for (const h of mochaHandlers) process.on('uncaughtException', h);
  }
  return caught;
}
