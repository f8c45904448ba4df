import { BlockAcctType, type BlockAcctStats } from '@vmkit/block-layer';
import type { BlkifProtocol, XenBlockDevice } from '../../src/index.js';
import type { Blkfront, BlkfrontOptions } from '../../src/testing/index.js';
import { MiB, newRig, pattern, type Rig } from './rig.js';

export const PROTOCOLS: readonly BlkifProtocol[] = ['native', 'x86_32-abi', 'x86_64-abi'];

export interface Connected {
  readonly rig: Rig;
  readonly dev: XenBlockDevice;
  readonly front: Blkfront;
  /** What the disk held at the start. */
  readonly initial: Uint8Array;
}

export interface ConnectOptions {
  readonly front?: BlkfrontOptions;
  readonly device?: Record<string, unknown>;
  readonly diskSize?: number;
  readonly seed?: number;
  readonly iothread?: boolean;
  /** Use this node instead of a fresh memory disk. */
  readonly drive?: string;
  readonly rig?: Rig;
}

/** A rig with a memory disk full of pattern bytes, a xen-block device on it, a connected Blkfront. */
export async function connected(options: ConnectOptions = {}): Promise<Connected> {
  const rig = options.rig ?? (await newRig());
  const size = options.diskSize ?? MiB;
  const initial = pattern(size, options.seed ?? 11);
  if (options.drive === undefined) await rig.addDisk('disk0', size, initial);
  if (options.iothread === true) rig.machine.objectAdd({ type: 'iothread', id: 'io0' });
  const dev = await rig.addDevice({
    drive: options.drive ?? 'disk0',
    ...(options.iothread === true ? { iothread: 'io0' } : {}),
    ...options.device,
  });
  const front = rig.frontend(options.front);
  await front.connect();
  return { rig, dev, front, initial };
}

export function same(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

/** The counters of one accounting type, as plain numbers. */
export function acct(
  stats: BlockAcctStats,
  type: BlockAcctType,
): {
  bytes: number;
  ops: number;
  failed: number;
  invalid: number;
} {
  return {
    bytes: stats.nrBytes[type],
    ops: stats.nrOps[type],
    failed: stats.failedOps[type],
    invalid: stats.invalidOps[type],
  };
}

export { BlockAcctType };
