// Typings and loaders for the real-guest harness (../guest: plain JavaScript modules run as they
// are, outside the compiled tree), shared by the guest tests. Only the parts the tests use.
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
export interface PrepareModule {
  GuestUnavailableError: new (message: string) => Error;
  prepareGuest(o?: { log?: (e: unknown) => void }): { kernel: string; initrd: string; kernelRelease: string };
}

export const guestDir = fileURLToPath(new URL('../../guest/', import.meta.url));

/** Imports one of the harness modules (`layout.mjs`, `run-guest.mjs`, ...). */
export const loadGuestModule = async <T>(name: string): Promise<T> =>
  (await import(pathToFileURL(join(guestDir, name)).href)) as T;

export function lastLines(text: string, n: number): string {
  return text.split('\n').slice(-n).join('\n');
}
