/** Shared set-up of the daemon tests: a temporary directory, a patterned image, an in-process daemon. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeAddonStatus } from '@vmkit/vhost-user';
import { parseDaemonCommandLine, StorageDaemon } from '../../src/index.js';

/** The built binary (tests run from dist/test). */
export const DAEMON_BIN = fileURLToPath(new URL('../../src/bin/vmkit-storage-daemon.js', import.meta.url));

let reported = false;

/** For `before()`: skips the suite when the vhost-user addon was not built, saying why once. */
export function requireAddon(ctx: Mocha.Context): void {
  if (nativeAddonStatus.available) return;
  if (!reported) {
    reported = true;
    console.log(`      storage-daemon tests skipped: ${nativeAddonStatus.reason}`);
  }
  ctx.skip();
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'vmkit-sd-'));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Where a daemon test keeps its files; the fields are set afresh before every test. */
export interface TestPaths {
  /** A new temporary directory. */
  dir: string;
  /** `disk.img` in `dir`: a patterned image (writeImage). */
  image: string;
  /** `vu0.sock` in `dir`, not yet created. */
  socket: string;
}

/**
 * For a describe() body: skips the suite without the addon (before) and gives every test a new
 * directory holding an image of `imageBytes` bytes (beforeEach). The caller removes `dir` in its
 * own afterEach, once whatever still uses the directory (a daemon, a client) has stopped.
 */
export function useTestPaths(imageBytes: number): TestPaths {
  const paths: TestPaths = { dir: '', image: '', socket: '' };
  before(function () {
    requireAddon(this);
  });
  beforeEach(() => {
    paths.dir = tempDir();
    paths.image = join(paths.dir, 'disk.img');
    paths.socket = join(paths.dir, 'vu0.sock');
    writeImage(paths.image, imageBytes);
  });
  return paths;
}

/** Byte `i` of the test image: differs per sector so misplaced reads show. */
export function imageByte(i: number): number {
  return (i * 7 + (i >> 9)) & 0xff;
}

/** Writes an image of `bytes` bytes filled with imageByte(). */
export function writeImage(path: string, bytes: number): Uint8Array {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = imageByte(i);
  writeFileSync(path, data);
  return data;
}

/** The daemon on `argv` in this process, its one-line reports collected. */
export async function startDaemon(
  argv: readonly string[],
): Promise<{ daemon: StorageDaemon; lines: string[] }> {
  const lines: string[] = [];
  const cmd = parseDaemonCommandLine(argv);
  const daemon = await StorageDaemon.start(cmd.actions, { log: (l) => lines.push(l), pidfile: cmd.pidfile });
  return { daemon, lines };
}

/** --blockdev file + raw over `image` and a vhost-user-blk export on `socket`, plus `extra` export keys. */
export function fileExportArgs(image: string, socket: string, extra = 'writable=on'): string[] {
  // prettier-ignore
  return [
    '--blockdev', `driver=file,node-name=file0,filename=${image},cache.direct=off`,
    '--blockdev', 'driver=raw,node-name=disk0,file=file0',
    '--export', `type=vhost-user-blk,id=vu0,node-name=disk0,addr.type=unix,addr.path=${socket}${extra ? `,${extra}` : ''}`,
  ];
}
