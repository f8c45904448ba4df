/**
 * `null-co`: a protocol node that stores nothing. Reads return success without touching the
 * buffer unless `read-zeroes` is set; writes are dropped. `latency-ns` delays every request on
 * the node's AioContext clock (a timer), otherwise everything completes synchronously.
 */
import { ConfigError } from '@vmkit/core';
import { BlockStatus, type MaybePromise } from '../constants.js';
import type { BlockDriver, DriverOptions } from '../driver.js';
import type { BlockDriverState } from '../node.js';
import { boolOption, checkKeys, sizeOption } from './options.js';

export interface NullOptions {
  size: number;
  readZeroes: boolean;
  latencyNs: number;
}

export type NullState = NullOptions;

function complete(bs: BlockDriverState<NullState>, ret: number): MaybePromise<number> {
  const latency = bs.opaque.latencyNs;
  if (latency === 0) return ret;
  return new Promise<number>((resolve) => {
    const timer = bs.aioContext.newTimer(() => resolve(ret));
    timer.arm(bs.aioContext.clock.now() + latency);
  });
}

export const nullCoDriver: BlockDriver<NullState, NullOptions> = {
  name: 'null-co',
  kind: 'protocol',
  parseOptions(options: DriverOptions): NullOptions {
    checkKeys(options, ['size', 'read-zeroes', 'latency-ns']);
    const latency = options['latency-ns'];
    if (
      latency !== undefined &&
      (typeof latency !== 'number' || !Number.isSafeInteger(latency) || latency < 0)
    ) {
      throw new ConfigError("Parameter 'latency-ns' expects a non-negative number below 2^64");
    }
    return {
      size: sizeOption(options, 'size') ?? 2 ** 30,
      readZeroes: boolOption(options, 'read-zeroes') ?? false,
      latencyNs: latency ?? 0,
    };
  },
  open(bs, options) {
    bs.opaque = { ...options };
  },
  getLength: (bs) => bs.opaque.size,
  preadv(bs, _offset, bytes, qiov, qiovOffset) {
    if (bs.opaque.readZeroes) qiov.fill(0, qiovOffset, bytes);
    return complete(bs, 0);
  },
  pwritev: (bs) => complete(bs, 0),
  flush: (bs) => complete(bs, 0),
  blockStatus(bs, _wantZero, offset, bytes) {
    const status = BlockStatus.OFFSET_VALID | (bs.opaque.readZeroes ? BlockStatus.ZERO : 0);
    return { status, pnum: bytes, map: offset, file: bs };
  },
  info: (bs) => ({ unallocatedBlocksAreZero: bs.opaque.readZeroes }),
};
