/** Temporary config files, in-process runs on a VirtualClock, and the spawned `vmkit` binary. */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { VirtualClock } from '@vmkit/core';
import { vmkitMain } from '../../src/index.js';

/** dist/test/helpers → dist/src/bin/vmkit.js */
export const VMKIT_BIN = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'src', 'bin', 'vmkit.js');

export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'vmkit-cli-test-'));
  file(name: string, content: string | object): string {
    const p = join(this.path, name);
    writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content, null, 2));
    return p;
  }
  remove(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/** Both disk devices on memory nodes, a short randrw verify job on each. */
export function twoDiskConfig(workload: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    objects: [
      { 'qom-type': 'iothread', id: 'io0' },
      { 'qom-type': 'throttle-group', id: 'tg0', 'x-iops-total': 1_000_000 },
    ],
    blockdevs: [
      { driver: 'memory', 'node-name': 'm0', size: 8 << 20 },
      { driver: 'memory', 'node-name': 'm1', size: 8 << 20 },
    ],
    devices: [
      { driver: 'virtio-blk', id: 'vda', drive: 'm0', iothread: 'io0', 'throttle-group': 'tg0' },
      { driver: 'xen-block', id: 'xvda', vdev: 'xvda', drive: 'm1', 'throttle-group': 'tg0' },
    ],
    workload: {
      rw: 'randrw',
      bs: '4k',
      iodepth: 8,
      size: '1M',
      runtime: 1,
      verify: 'crc32c',
      jobs: [{ device: 'vda' }, { device: 'xvda', protocol: 'x86_64-abi' }],
      ...workload,
    },
  };
}

export interface InProcessResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs vmkitMain on a VirtualClock, advancing it in steps (one macrotask turn each) until done. */
export async function runInProcess(
  args: readonly string[],
  options: {
    clock?: VirtualClock;
    stepNs?: number;
    signal?: AbortSignal;
    /** Called after every write, with everything written so far. */
    onOutput?: (stdout: string, stderr: string) => void;
  } = {},
): Promise<InProcessResult> {
  const clock = options.clock ?? new VirtualClock();
  let stdout = '';
  let stderr = '';
  let done = false;
  const run = vmkitMain(args, {
    stdout: (t) => {
      stdout += t;
      options.onOutput?.(stdout, stderr);
    },
    stderr: (t) => {
      stderr += t;
      options.onOutput?.(stdout, stderr);
    },
    stdoutIsTTY: false,
    signal: options.signal ?? new AbortController().signal,
    clock,
  }).finally(() => (done = true));
  for (let i = 0; i < 1_000_000 && !done; i++) {
    await new Promise((resolve) => setImmediate(resolve));
    await clock.advance(options.stepNs ?? 20e6);
  }
  return { code: await run, stdout, stderr };
}

export interface Spawned {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
  /** Resolves with the exit code (a signal's death is reported as 128 + number). */
  readonly exited: Promise<number>;
  /** Resolves once stdout or stderr (the stream named) has matched `re`. */
  waitFor(stream: 'stdout' | 'stderr', re: RegExp): Promise<void>;
}

/** Spawns `node vmkit.js ...args` (or `cmd` with args) with piped output. */
export function spawnVmkit(
  args: readonly string[],
  cmd = process.execPath,
  pre: readonly string[] = [VMKIT_BIN],
): Spawned {
  const child = spawn(cmd, [...pre, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const waiters: { stream: 'stdout' | 'stderr'; re: RegExp; resolve: () => void }[] = [];
  const s: Spawned = {
    child,
    stdout: '',
    stderr: '',
    // 'close': the process exited and its output has been read to the end.
    exited: new Promise<number>((resolve) =>
      child.on('close', (code, signal) => resolve(code ?? 128 + (signal === 'SIGINT' ? 2 : 15))),
    ),
    waitFor(stream, re) {
      return new Promise<void>((resolve, reject) => {
        if (re.test(s[stream])) return resolve();
        waiters.push({ stream, re, resolve });
        void s.exited.then(() =>
          reject(new Error(`exited before ${stream} matched ${re}:\n${s[stream]}\n${s.stderr}`)),
        );
      });
    },
  };
  const feed = (stream: 'stdout' | 'stderr') => (chunk: Buffer) => {
    s[stream] += chunk.toString('utf8');
    for (const w of waiters.splice(0)) {
      if (w.stream === stream && w.re.test(s[stream])) w.resolve();
      else waiters.push(w);
    }
  };
  child.stdout.on('data', feed('stdout'));
  child.stderr.on('data', feed('stderr'));
  return s;
}
