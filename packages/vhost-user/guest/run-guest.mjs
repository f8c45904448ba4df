#!/usr/bin/env node
// Boots the test guest under QEMU TCG with one disk backend and collects its VMKIT-RESULT lines.
// As a CLI it runs the full check (layout.mjs) on a fresh image in a temporary directory:
//
//   node run-guest.mjs [--backend=qemu-virtio|qsd|vhost-user] [--firmware=seabios|qboot]
//                      [--daemon='CMD {image} {socket}'] [--cache DIR] [--verbose]
//
// qemu-virtio is QEMU's own virtio-blk-pci; qsd boots against qemu-storage-daemon's
// vhost-user-blk export; vhost-user with --daemon starts that command on the image and socket.
// Prints one JSON line per step, then a summary; exits 1 unless everything passed.
import console from 'node:console';
import process from 'node:process';
import { clearTimeout, setTimeout } from 'node:timers';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCommandDaemon, startQemuStorageDaemon } from './daemons.mjs';
import { BLOCK, createCheckImage, DEFAULT_LAYOUT, fullCheckParams, verifyCheckImage } from './layout.mjs';
import { prepareGuest } from './prepare.mjs';

export const QBOOT_ROM = '/usr/share/qemu/qboot.rom';
export const QEMU_BINARY = 'qemu-system-x86_64';

/**
 * @typedef {{ kind: 'qemu-virtio', image: string } | { kind: 'vhost-user', socket: string }} DiskBackend
 * @typedef {'seabios' | 'qboot'} Firmware
 * @typedef {{ step: string, ok: boolean, fields: Record<string, string> }} StepResult
 * @typedef {{
 *   kernel: string, initrd: string, backend: DiskBackend, firmware?: Firmware,
 *   params?: Record<string, string>, kernelArgs?: string[], timeoutMs?: number, memoryMiB?: number, qemu?: string,
 *   onLine?: (line: string) => void,
 * }} RunGuestOptions
 * @typedef {{
 *   done: boolean, exitCode: number | null, signal: string | null, timedOut: boolean,
 *   durationMs: number, steps: StepResult[], console: string, args: string[],
 * }} GuestRun
 */

/**
 * The QEMU command line: q35 under TCG with a memfd-backed NUMA node (vhost-user needs guest RAM
 * it can share), serial console on stdio, no network, the given firmware and disk.
 * @param {RunGuestOptions} o
 * @returns {string[]}
 */
export function qemuArgs(o) {
  const mem = o.memoryMiB ?? 512;
  const params = Object.entries(o.params ?? {}).map(([k, v]) => `vmkit.${k}=${v}`);
  const append = [
    'console=ttyS0',
    'panic=-1',
    'rdinit=/init',
    'quiet',
    ...(o.kernelArgs ?? []),
    ...params,
  ].join(' ');
  // prettier-ignore
  const args = [
    '-machine', 'q35,accel=tcg',
    '-cpu', 'max',
    '-m', String(mem),
    '-object', `memory-backend-memfd,id=mem0,size=${mem}M,share=on`,
    '-numa', 'node,memdev=mem0',
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', o.kernel,
    '-initrd', o.initrd,
    '-append', append,
  ];
  if ((o.firmware ?? 'seabios') === 'qboot') args.push('-bios', QBOOT_ROM);
  if (o.backend.kind === 'qemu-virtio') {
    // prettier-ignore
    args.push(
      '-drive', `file=${o.backend.image},if=none,id=d0,format=raw,cache=writeback`,
      '-device', 'virtio-blk-pci,drive=d0',
    );
  } else {
    // prettier-ignore
    args.push(
      '-chardev', `socket,id=vu0,path=${o.backend.socket}`,
      '-device', 'vhost-user-blk-pci,chardev=vu0',
    );
  }
  return args;
}

/**
 * `VMKIT-RESULT step=NAME ok=0|1 key=value ...` anywhere in a console line.
 * @param {string} line
 * @returns {StepResult | null}
 */
export function parseResultLine(line) {
  const at = line.indexOf('VMKIT-RESULT ');
  if (at < 0) return null;
  /** @type {Record<string, string>} */
  const fields = {};
  for (const word of line
    .slice(at + 'VMKIT-RESULT '.length)
    .trim()
    .split(/\s+/)) {
    const eq = word.indexOf('=');
    if (eq > 0) fields[word.slice(0, eq)] = word.slice(eq + 1);
  }
  const step = fields.step;
  if (!step) return null;
  const ok = fields.ok === '1';
  delete fields.step;
  delete fields.ok;
  return { step, ok, fields };
}

/**
 * Boots the guest and resolves when QEMU exits (the guest powers off after its last step) or the
 * timeout kills it.
 * @param {RunGuestOptions} o
 * @returns {Promise<GuestRun>}
 */
export function runGuest(o) {
  const args = qemuArgs(o);
  const t0 = Date.now();
  return new Promise((resolvePromise, reject) => {
    const child = spawn(o.qemu ?? QEMU_BINARY, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    /** @type {string[]} */
    const out = [];
    /** @type {StepResult[]} */
    const steps = [];
    let pending = '';
    let timedOut = false;
    /** @param {string} text */
    const onText = (text) => {
      out.push(text);
      pending += text;
      let nl;
      while ((nl = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, nl).replace(/\r/g, '');
        pending = pending.slice(nl + 1);
        o.onLine?.(line);
        const r = parseResultLine(line);
        if (r) steps.push(r);
      }
    };
    child.stdout.setEncoding('utf8').on('data', onText);
    child.stderr.setEncoding('utf8').on('data', onText);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, o.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (exitCode, signal) => {
      clearTimeout(timer);
      if (pending) onText('\n');
      resolvePromise({
        done: steps.some((s) => s.step === 'done'),
        exitCode,
        signal,
        timedOut,
        durationMs: Date.now() - t0,
        steps,
        console: out.join(''),
        args,
      });
    });
  });
}

/** The steps a full check must report, in order. */
export const FULL_CHECK_STEPS = Object.freeze([
  'setup',
  'md5',
  'read-4k',
  'read-1m',
  'write-4k',
  'write-1m',
  'discard',
  'fsync',
  'fio-verify',
  'done',
]);

/**
 * What went wrong in a full check run (empty when every step passed).
 * @param {GuestRun} run
 * @returns {string[]}
 */
export function fullCheckFailures(run) {
  /** @type {string[]} */
  const failures = [];
  if (run.timedOut) failures.push('timed out');
  for (const name of FULL_CHECK_STEPS) {
    const s = run.steps.find((x) => x.step === name);
    if (!s) failures.push(`${name}: missing`);
    else if (!s.ok) failures.push(`${name}: failed ${JSON.stringify(s.fields)}`);
  }
  return failures;
}

/**
 * Full check on one backend: step results and the image afterwards. `image` must already hold
 * the initial pattern (createCheckImage, whose md5 is passed) and be what the backend serves.
 * @param {{ guest: { kernel: string, initrd: string }, image: string, md5: string,
 *   backend: DiskBackend, firmware?: Firmware, timeoutMs?: number, qemu?: string }} o
 * @returns {Promise<{ run: GuestRun, failures: string[], imageMismatches: { start: number, count: number }[] }>}
 */
export async function runFullCheck(o) {
  const run = await runGuest({
    kernel: o.guest.kernel,
    initrd: o.guest.initrd,
    backend: o.backend,
    firmware: o.firmware,
    params: fullCheckParams(DEFAULT_LAYOUT, o.md5),
    timeoutMs: o.timeoutMs,
    qemu: o.qemu,
  });
  const failures = fullCheckFailures(run);
  const size = statSync(o.image).size;
  if (size !== DEFAULT_LAYOUT.blocks * BLOCK)
    failures.push(`image size ${size}, not ${DEFAULT_LAYOUT.blocks * BLOCK}`);
  const imageMismatches = verifyCheckImage(o.image, DEFAULT_LAYOUT);
  return { run, failures, imageMismatches };
}

/** @param {string[]} argv @returns {Record<string, string>} --name=value / --name value / --flag */
export function parseArgs(argv) {
  /** @type {Record<string, string>} */
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const m = /^--([^=]+)(?:=(.*))?$/.exec(argv[i]);
    if (!m) throw new Error(`unexpected argument ${argv[i]}`);
    if (m[2] !== undefined) opts[m[1]] = m[2];
    else if (i + 1 < argv.length && !argv[i + 1].startsWith('--')) opts[m[1]] = argv[++i];
    else opts[m[1]] = '1';
  }
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const firmware = opts.firmware === 'qboot' ? 'qboot' : 'seabios';
  const kind = opts.backend ?? 'qemu-virtio';
  if (kind === 'vhost-user' && !opts.daemon)
    throw new Error("--backend=vhost-user needs --daemon='CMD {image} {socket}'");
  const guest = prepareGuest({ cacheDir: opts.cache, log: () => {} });
  const dir = mkdtempSync(join(tmpdir(), 'vmkit-guest-'));
  const image = join(dir, 'disk.img');
  const socket = join(dir, 'vhost-user.sock');
  const { md5 } = createCheckImage(image, DEFAULT_LAYOUT);
  const daemon =
    kind === 'qsd'
      ? await startQemuStorageDaemon({ image, socket })
      : kind === 'vhost-user'
        ? await startCommandDaemon({ name: 'daemon', template: opts.daemon, image, socket })
        : null;
  try {
    /** @type {DiskBackend} */
    const backend = daemon ? { kind: 'vhost-user', socket } : { kind: 'qemu-virtio', image };
    const timeoutMs = Number(opts.timeout ?? 180_000);
    const r = await runFullCheck({ guest, image, md5, backend, firmware, timeoutMs, qemu: opts.qemu });
    for (const s of r.run.steps) console.log(JSON.stringify({ step: s.step, ok: s.ok, ...s.fields }));
    const ok = r.failures.length === 0 && r.imageMismatches.length === 0;
    console.log(
      JSON.stringify({
        summary: ok ? 'pass' : 'fail',
        backend: kind,
        firmware,
        durationMs: r.run.durationMs,
        failures: r.failures,
        imageMismatches: r.imageMismatches,
      }),
    );
    if (!ok || opts.verbose) process.stderr.write(r.run.console + (daemon ? daemon.output() : ''));
    process.exitCode = ok ? 0 : 1;
  } finally {
    await daemon?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    console.log(JSON.stringify({ summary: 'error', message: e instanceof Error ? e.message : String(e) }));
    process.exitCode = 1;
  });
}
