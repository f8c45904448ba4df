// vhost-user-blk daemons the guest can be booted against: qemu-storage-daemon (the baseline) or
// any command given as a template, such as vmkit-storage-daemon once it exists.
import { setTimeout } from 'node:timers';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';

export const QSD_BINARY = 'qemu-storage-daemon';

/**
 * @typedef {{ name: string, socket: string, pid: number | undefined, output: () => string,
 *   cpuSeconds: () => number, mainThreadCpuSeconds: () => number, stop: () => Promise<void> }}
 *   RunningDaemon
 */

/** @param {string} binary @returns {boolean} whether `binary` is on PATH */
export function haveBinary(binary) {
  return spawnSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' }).status === 0;
}

/**
 * CPU time (user + system) a live process has used so far, from /proc/PID/stat (clock ticks of
 * 1/100 s, as on Linux for x86): every thread, or with `thread` only that one (the process's
 * own pid is its main thread: a Node daemon's JavaScript). NaN when it cannot be read.
 * @param {number | undefined} pid
 * @param {number} [thread]
 * @returns {number}
 */
export function processCpuSeconds(pid, thread) {
  try {
    const stat = readFileSync(
      thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
      'utf8',
    );
    // Fields after the parenthesised command: state is field 3, utime 14, stime 15.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Starts `argv` and resolves once it listens on `socket` (the file appears), rejecting if it
 * exits first or takes longer than `timeoutMs`.
 * @param {string} name
 * @param {string[]} argv
 * @param {string} socket
 * @param {number} [timeoutMs]
 * @returns {Promise<RunningDaemon>}
 */
export function startDaemon(name, argv, socket, timeoutMs = 10_000) {
  rmSync(socket, { force: true });
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  /** @type {string[]} */
  const out = [];
  child.stdout.setEncoding('utf8').on('data', (/** @type {string} */ t) => out.push(t));
  child.stderr.setEncoding('utf8').on('data', (/** @type {string} */ t) => out.push(t));
  /** @type {Promise<void>} */
  const exited = new Promise((resolve) => child.once('close', () => resolve()));
  const daemon = {
    name,
    socket,
    pid: child.pid,
    output: () => out.join(''),
    cpuSeconds: () => processCpuSeconds(child.pid),
    mainThreadCpuSeconds: () => processCpuSeconds(child.pid, child.pid),
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(socket, { force: true });
    },
  };
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    let failed = false;
    child.once('error', (e) => {
      failed = true;
      reject(e);
    });
    const poll = () => {
      if (failed) return;
      if (child.exitCode !== null || child.signalCode !== null) {
        reject(new Error(`${name} exited (${child.exitCode ?? child.signalCode}): ${out.join('').trim()}`));
      } else if (existsSync(socket)) {
        resolve(daemon);
      } else if (Date.now() - t0 > timeoutMs) {
        void daemon.stop();
        reject(new Error(`${name} did not create ${socket} within ${timeoutMs} ms`));
      } else {
        setTimeout(poll, 20);
      }
    };
    poll();
  });
}

/**
 * qemu-storage-daemon exporting a raw image as vhost-user-blk through the page cache
 * (cache.direct=off), as the benchmark compares against.
 * @param {{ image: string, socket: string, binary?: string }} o
 * @returns {Promise<RunningDaemon>}
 */
export function startQemuStorageDaemon(o) {
  return startDaemon(
    'qemu-storage-daemon',
    // prettier-ignore
    [
      o.binary ?? QSD_BINARY,
      '--blockdev', `driver=file,node-name=file0,filename=${o.image},cache.direct=off`,
      '--blockdev', 'driver=raw,node-name=disk0,file=file0',
      '--export', `type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=${o.socket},writable=on`,
    ],
    o.socket,
  );
}

/**
 * Any daemon given as a command template: `{image}` and `{socket}` are substituted, words are
 * split on spaces (e.g. "vmkit-storage-daemon --image {image} --socket {socket}").
 * @param {{ name: string, template: string, image: string, socket: string }} o
 * @returns {Promise<RunningDaemon>}
 */
export function startCommandDaemon(o) {
  const argv = o.template
    .trim()
    .split(/\s+/)
    .map((w) => w.replaceAll('{image}', o.image).replaceAll('{socket}', o.socket));
  return startDaemon(o.name, argv, o.socket);
}
