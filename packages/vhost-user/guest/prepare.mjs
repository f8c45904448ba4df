#!/usr/bin/env node
// Makes sure a cache directory holds what the test guest boots: Debian's cloud kernel (newest
// linux-image-6.1.0-*-cloud-amd64 apt knows, fetched with apt-get download and unpacked with
// dpkg-deb, never installed), its virtio modules and their dependencies, and an initramfs with
// busybox-static, fio plus its shared-library closure and the /init of init.sh. Everything is
// keyed by versions, so a second run only checks and prints `cached`.
//
//   node prepare.mjs [--cache DIR]      (default $VMKIT_GUEST_CACHE or ~/.cache/vmkit-guest)
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  readlinkSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { Buffer } from 'node:buffer';
import console from 'node:console';
import { homedir } from 'node:os';
import { dirname, join, posix, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { writeCpio } from './cpio.mjs';
import { moduleClosure } from './kmod.mjs';

/** Bumped whenever the initramfs layout changes in a way the versions below do not capture. */
const FORMAT = 1;
/** The drivers the guest needs; their dependencies are found from the modules' .modinfo. */
const WANTED_MODULES = ['virtio_pci', 'virtio_blk'];
const KERNEL_PATTERN = /^linux-image-6\.1\.0-(\d+)-cloud-amd64$/;
const HERE = dirname(fileURLToPath(import.meta.url));

/**
 * @typedef {{ event: string, [key: string]: unknown }} PrepareEvent
 * @typedef {{
 *   cacheDir: string, key: string, kernel: string, initrd: string, kernelRelease: string,
 *   kernelPackage: string, kernelVersion: string, modules: string[],
 * }} GuestImage
 * @typedef {{ cacheDir?: string, log?: (e: PrepareEvent) => void, compress?: 'none' | 'gzip' }} PrepareOptions
 */

/**
 * Thrown when this host cannot build the guest (no apt/dpkg, or packages missing and no root to
 * install them): tests skip on it, saying why, instead of failing.
 */
export class GuestUnavailableError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'GuestUnavailableError';
  }
}

export function defaultCacheDir() {
  return process.env.VMKIT_GUEST_CACHE || join(homedir(), '.cache', 'vmkit-guest');
}

/**
 * @param {string} cmd
 * @param {string[]} args
 * @param {{ cwd?: string, allowFail?: boolean }} [opts]
 * @returns {{ status: number, stdout: string, stderr: string }}
 */
function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd,
    encoding: 'utf8',
    maxBuffer: 64 << 20,
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' },
  });
  if (r.error) {
    if (opts.allowFail) return { status: -1, stdout: '', stderr: r.error.message };
    throw new Error(`${cmd}: ${r.error.message}`);
  }
  const status = r.status ?? -1;
  if (status !== 0 && !opts.allowFail) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${status}): ${r.stderr.trim().slice(-2000)}`);
  }
  return { status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A JSON file this script wrote earlier, typed by the caller.
 * @template T
 * @param {string} path
 * @returns {T}
 */
function readJson(path) {
  /** @type {unknown} */
  const value = JSON.parse(readFileSync(path, 'utf8'));
  return /** @type {T} */ (value);
}

const isRoot = () => process.getuid?.() === 0;

/** @param {string} pkg @returns {string | null} the installed version, or null */
function installedVersion(pkg) {
  const r = run('dpkg-query', ['-W', '-f=${Status}\t${Version}', pkg], { allowFail: true });
  if (r.status !== 0) return null;
  const [status, version] = r.stdout.split('\t');
  return status.endsWith(' installed') ? version : null;
}

/**
 * apt-get update once per run, and only when apt's lists are needed and lacking.
 * @param {{ done: boolean }} state
 * @param {(e: PrepareEvent) => void} log
 */
function aptUpdate(state, log) {
  if (state.done || !isRoot()) return;
  state.done = true;
  const t0 = Date.now();
  run('apt-get', ['update', '-qq']);
  log({ event: 'apt-update', ms: Date.now() - t0 });
}

/**
 * The host tools copied into the guest; installed with apt-get when missing (root only).
 * @param {{ done: boolean }} aptState
 * @param {(e: PrepareEvent) => void} log
 * @returns {{ busybox: string, fio: string }}
 */
function ensureTools(aptState, log) {
  const packages = ['busybox-static', 'fio'];
  const missing = packages.filter((p) => installedVersion(p) === null);
  if (missing.length > 0) {
    if (!isRoot()) {
      throw new GuestUnavailableError(
        `missing host packages ${missing.join(' ')} (install them: apt-get install ${missing.join(' ')})`,
      );
    }
    aptUpdate(aptState, log);
    const t0 = Date.now();
    run('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing]);
    log({ event: 'install', packages: missing, ms: Date.now() - t0 });
  }
  const busybox = installedVersion('busybox-static');
  const fio = installedVersion('fio');
  if (busybox === null || fio === null) throw new Error('busybox-static or fio did not install');
  return { busybox, fio };
}

/**
 * Newest linux-image-6.1.0-N-cloud-amd64 apt knows (what linux-image-cloud-amd64 depends on), or
 * the newest one already cached.
 * @param {string} cacheDir
 * @param {{ done: boolean }} aptState
 * @param {(e: PrepareEvent) => void} log
 * @returns {{ pkg: string, version: string }}
 */
function chooseKernel(cacheDir, aptState, log) {
  // The metapackage names the newest ABI and its version in one (slow) apt-cache call.
  const lookup = () => {
    const show = run('apt-cache', ['show', '--no-all-versions', 'linux-image-cloud-amd64'], {
      allowFail: true,
    });
    const m = /^Depends:.*?\b(linux-image-6\.1\.0-\d+-cloud-amd64) \(= (\S+)\)/m.exec(show.stdout);
    return m ? { pkg: m[1], version: m[2] } : null;
  };
  let found = lookup();
  if (!found) {
    aptUpdate(aptState, log);
    found = lookup();
  }
  if (found) return found;
  /** @param {string} n */
  const abi = (n) => Number(KERNEL_PATTERN.exec(n)?.[1] ?? -1);
  // No apt lists (offline): fall back to the newest kernel already in the cache.
  const kernelRoot = join(cacheDir, 'kernel');
  /** @type {{ pkg: string, version: string }[]} */
  const cached = [];
  for (const d of existsSync(kernelRoot) ? readdirSync(kernelRoot) : []) {
    const path = join(kernelRoot, d, 'kernel.json');
    if (!existsSync(path)) continue;
    /** @type {{ pkg: string, version: string }} */
    const k = readJson(path);
    cached.push(k);
  }
  cached.sort((a, b) => abi(b.pkg) - abi(a.pkg));
  if (cached.length > 0) return { pkg: cached[0].pkg, version: cached[0].version };
  if (!isRoot()) {
    throw new GuestUnavailableError(
      'no linux-image-6.1.0-*-cloud-amd64 known to apt (apt-get update needs root)',
    );
  }
  throw new Error('apt knows no linux-image-6.1.0-*-cloud-amd64 (is this Debian 12?) and none is cached');
}

/**
 * The kernel and the modules the guest loads, unpacked once per package version.
 * @param {string} cacheDir
 * @param {{ pkg: string, version: string }} k
 * @param {(e: PrepareEvent) => void} log
 * @returns {{ dir: string, release: string, modules: string[] }}
 */
function ensureKernel(cacheDir, k, log) {
  const dir = join(cacheDir, 'kernel', `${k.pkg}_${k.version}`);
  const manifestPath = join(dir, 'kernel.json');
  if (existsSync(manifestPath)) {
    /** @type {{ release: string, modules: string[], wanted: string[] }} */
    const m = readJson(manifestPath);
    if (m.wanted.join(',') === WANTED_MODULES.join(','))
      return { dir, release: m.release, modules: m.modules };
  }
  const debs = join(cacheDir, 'debs');
  mkdirSync(debs, { recursive: true });
  const debName = `${k.pkg}_${k.version.replace(/:/g, '%3a')}_amd64.deb`;
  if (!existsSync(join(debs, debName))) {
    const t0 = Date.now();
    run('apt-get', ['download', '-qq', `${k.pkg}=${k.version}`], { cwd: debs });
    log({ event: 'download', package: k.pkg, version: k.version, ms: Date.now() - t0 });
  }
  const tmp = `${dir}.tmp`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const t0 = Date.now();
  const root = join(tmp, 'root');
  run('dpkg-deb', ['-x', join(debs, debName), root]);
  const vmlinuz = readdirSync(join(root, 'boot')).find((f) => f.startsWith('vmlinuz-'));
  if (!vmlinuz) throw new Error(`${debName} holds no boot/vmlinuz-*`);
  const release = vmlinuz.slice('vmlinuz-'.length);
  const closure = moduleClosure(join(root, 'lib', 'modules', release), WANTED_MODULES);
  copyFileSync(join(root, 'boot', vmlinuz), join(tmp, 'vmlinuz'));
  mkdirSync(join(tmp, 'modules'));
  for (const m of closure) copyFileSync(m.path, join(tmp, 'modules', `${m.name}.ko`));
  rmSync(root, { recursive: true, force: true });
  const modules = closure.map((m) => m.name);
  writeFileSync(
    join(tmp, 'kernel.json'),
    `${JSON.stringify({ pkg: k.pkg, version: k.version, release, modules, wanted: WANTED_MODULES })}\n`,
  );
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
  log({ event: 'extract', package: k.pkg, release, modules, ms: Date.now() - t0 });
  return { dir, release, modules };
}

/** @param {string} binary @returns {string[]} the absolute paths ldd names for it */
function sharedLibraries(binary) {
  const out = run('ldd', [binary]).stdout;
  /** @type {string[]} */
  const libs = [];
  for (const line of out.split('\n')) {
    if (/not found/.test(line)) throw new Error(`ldd ${binary}: ${line.trim()}`);
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m) libs.push(m[1]);
  }
  return libs;
}

/** Archive entries mirroring host paths, symlinks included, so the loader finds what ldd found. */
class HostTree {
  constructor() {
    /** @type {Map<string, import('./cpio.mjs').CpioEntry>} */
    this.entries = new Map();
    this.bytes = 0;
  }

  /** @param {import('./cpio.mjs').CpioEntry} e */
  put(e) {
    if (!this.entries.has(e.path)) this.entries.set(e.path, e);
  }

  /** @param {string} path an absolute host path; its parents and symlinks are added too */
  addHostPath(path, depth = 0) {
    if (depth > 40) throw new Error(`symlink loop at ${path}`);
    const parts = path.split('/').filter(Boolean);
    let cur = '';
    for (let i = 0; i < parts.length; i++) {
      cur = `${cur}/${parts[i]}`;
      const st = lstatSync(cur);
      if (st.isSymbolicLink()) {
        const target = readlinkSync(cur);
        this.put({ kind: 'symlink', path: cur, target });
        const rest = parts.slice(i + 1).join('/');
        const resolved = posix.resolve(posix.dirname(cur), target);
        this.addHostPath(rest ? `${resolved}/${rest}` : resolved, depth + 1);
        return;
      }
      if (st.isDirectory()) {
        this.put({ kind: 'dir', path: cur });
      } else if (!this.entries.has(cur)) {
        const data = readFileSync(cur);
        this.bytes += data.length;
        this.put({ kind: 'file', path: cur, data, mode: st.mode & 0o7777 });
      }
    }
  }
}

/**
 * @param {PrepareOptions} [options]
 * @returns {GuestImage}
 */
export function prepareGuest(options = {}) {
  const cacheDir = resolve(options.cacheDir ?? defaultCacheDir());
  const log = options.log ?? ((e) => console.log(JSON.stringify(e)));
  const compress = options.compress ?? 'none';
  mkdirSync(cacheDir, { recursive: true });
  const aptState = { done: false };
  for (const tool of ['apt-get', 'apt-cache', 'dpkg-deb', 'dpkg-query', 'ldd']) {
    if (run('sh', ['-c', `command -v ${tool}`], { allowFail: true }).status !== 0) {
      throw new GuestUnavailableError(`${tool} not found: the test guest is built from Debian packages`);
    }
  }

  const tools = ensureTools(aptState, log);
  const kernelPkg = chooseKernel(cacheDir, aptState, log);
  const initScript = readFileSync(join(HERE, 'init.sh'), 'utf8');
  const fioLibs = sharedLibraries('/usr/bin/fio');
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        FORMAT,
        kernelPkg,
        WANTED_MODULES,
        tools,
        fioLibs,
        compress,
        init: createHash('sha256').update(initScript).digest('hex'),
      }),
    )
    .digest('hex')
    .slice(0, 16);

  const manifestPath = join(cacheDir, `guest-${key}.json`);
  if (existsSync(manifestPath)) {
    /** @type {GuestImage} */
    const image = readJson(manifestPath);
    if (existsSync(image.kernel) && existsSync(image.initrd)) {
      log({ event: 'cached', key, kernel: image.kernel, initrd: image.initrd });
      return image;
    }
  }

  const k = ensureKernel(cacheDir, kernelPkg, log);
  const t0 = Date.now();
  const tree = new HostTree();
  for (const top of ['/bin', '/sbin', '/lib', '/lib64']) if (existsSync(top)) tree.addHostPath(top);
  tree.addHostPath('/bin/busybox');
  const bb = run('ldd', [tree.entries.has('/usr/bin/busybox') ? '/usr/bin/busybox' : '/bin/busybox'], {
    allowFail: true,
  });
  if (!/not a dynamic executable|statically linked/.test(bb.stdout + bb.stderr)) {
    throw new Error('/bin/busybox is not static: is busybox (not busybox-static) installed?');
  }
  tree.addHostPath('/usr/bin/fio');
  for (const lib of fioLibs) tree.addHostPath(lib);
  for (const d of ['/dev', '/proc', '/sys', '/tmp', '/modules']) tree.put({ kind: 'dir', path: d });
  tree.put({ kind: 'chardev', path: '/dev/console', major: 5, minor: 1 });
  for (const m of k.modules) {
    const data = readFileSync(join(k.dir, 'modules', `${m}.ko`));
    tree.put({ kind: 'file', path: `/modules/${m}.ko`, data });
  }
  const header = `MODULES="${k.modules.join(' ')}"\nKERNEL_RELEASE="${k.release}"\n`;
  const init = initScript.replace(/\n/, `\n${header}`);
  tree.put({ kind: 'file', path: '/init', data: Buffer.from(init), mode: 0o755 });

  const initrd = join(cacheDir, `initramfs-${key}.cpio${compress === 'gzip' ? '.gz' : ''}`);
  const tmp = `${initrd}.tmp`;
  const entries = [...tree.entries.values()];
  const bytes = writeCpio(tmp, entries);
  if (compress === 'gzip') writeFileSync(tmp, gzipSync(readFileSync(tmp), { level: 1 }));
  renameSync(tmp, initrd);
  const image = {
    cacheDir,
    key,
    kernel: join(k.dir, 'vmlinuz'),
    initrd,
    kernelRelease: k.release,
    kernelPackage: kernelPkg.pkg,
    kernelVersion: kernelPkg.version,
    modules: k.modules,
  };
  writeFileSync(manifestPath, `${JSON.stringify(image, null, 2)}\n`);
  log({
    event: 'initramfs',
    key,
    path: initrd,
    files: entries.length,
    cpioBytes: bytes,
    fileBytes: statSync(initrd).size,
    ms: Date.now() - t0,
  });
  removeStale(cacheDir, key, log);
  return image;
}

/**
 * Drops initramfs images of other keys so the cache does not grow with every version.
 * @param {string} cacheDir
 * @param {string} key
 * @param {(e: PrepareEvent) => void} log
 */
function removeStale(cacheDir, key, log) {
  for (const f of readdirSync(cacheDir)) {
    const m = /^(?:initramfs|guest)-([0-9a-f]{16})\./.exec(f);
    if (m && m[1] !== key) {
      rmSync(join(cacheDir, f), { force: true });
      log({ event: 'remove-stale', path: join(cacheDir, f) });
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const at = args.indexOf('--cache');
  const cacheDir = at >= 0 ? args[at + 1] : undefined;
  const gzip = args.includes('--gzip');
  try {
    const image = prepareGuest({ cacheDir, compress: gzip ? 'gzip' : 'none' });
    console.log(JSON.stringify({ event: 'ready', ...image }));
  } catch (e) {
    console.log(JSON.stringify({ event: 'error', message: e instanceof Error ? e.message : String(e) }));
    process.exitCode = 1;
  }
}
