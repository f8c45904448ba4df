/**
 * Test helpers: run the real vmkit-io / vmkit-img binaries (and QEMU's tools when installed) as
 * child processes, temporary image files, and the output filters QEMU's iotests use.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const VMKIT_IO = fileURLToPath(new URL('../../src/bin/vmkit-io.js', import.meta.url));
export const VMKIT_IMG = fileURLToPath(new URL('../../src/bin/vmkit-img.js', import.meta.url));

export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  /** Text fed to standard input (closed afterwards); default: empty. */
  readonly input?: string;
  readonly cwd?: string;
  readonly timeoutMs?: number;
}

function run(cmd: string, args: readonly string[], o: RunOptions = {}): RunResult {
  const r = spawnSync(cmd, args, {
    input: o.input ?? '',
    cwd: o.cwd,
    encoding: 'utf8',
    timeout: o.timeoutMs ?? 15000,
  });
  if (r.error) throw r.error;
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Spawns `node vmkit-io.js ARGS`. */
export function vmkitIo(args: readonly string[], o?: RunOptions): RunResult {
  return run(process.execPath, [VMKIT_IO, ...args], o);
}

/** Spawns `node vmkit-img.js ARGS`. */
export function vmkitImg(args: readonly string[], o?: RunOptions): RunResult {
  return run(process.execPath, [VMKIT_IMG, ...args], o);
}

/** Spawns a QEMU tool (qemu-io, qemu-img) from PATH. */
export function qemu(tool: 'qemu-io' | 'qemu-img', args: readonly string[], o?: RunOptions): RunResult {
  return run(tool, args, o);
}

let qemuIoPresent: boolean | undefined;
/** Whether qemu-io is installed (the differential tests skip without it). */
export function haveQemuIo(): boolean {
  if (qemuIoPresent === undefined) {
    const r = spawnSync('qemu-io', ['--version'], { encoding: 'utf8' });
    qemuIoPresent = r.error === undefined && r.status === 0;
  }
  return qemuIoPresent;
}

/** A temporary directory removed by `cleanup()`. */
export class TempDir {
  readonly path = mkdtempSync(join(tmpdir(), 'vmkit-tools-'));
  file(name: string): string {
    return join(this.path, name);
  }
  /** Creates a file of `size` bytes, filled with `fill` (default zeroes, sparse). */
  image(name: string, size: number, fill?: (buf: Uint8Array) => void): string {
    const buf = new Uint8Array(size);
    fill?.(buf);
    writeFileSync(this.file(name), buf);
    return this.file(name);
  }
  read(name: string): Uint8Array {
    return readFileSync(this.file(name));
  }
  cleanup(): void {
    rmSync(this.path, { recursive: true, force: true });
  }
}

/**
 * _filter_qemu_io-like normalisation: timing figures, the prompt and the program name (so that
 * qemu-io and vmkit-io outputs can be compared line by line).
 */
export function filterIo(text: string): string {
  return text
    .replace(/(\d+ ops); [0-9:.]+(?: sec)? \([^)]*\)/g, '$1; XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)')
    .replace(/\b(?:qemu|vmkit)-io> /g, 'PROG> ')
    .replace(/^(?:qemu|vmkit)-io: /gm, 'PROG: ');
}
