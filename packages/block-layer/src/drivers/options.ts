/** Small option validators shared by the built-in drivers (QEMU-style error texts). */
import { ConfigError } from '@vmkit/core';
import type { DriverOptions } from '../driver.js';

/** Refuses keys not in `allowed` (`Invalid parameter 'foo'`). */
export function checkKeys(options: DriverOptions, allowed: readonly string[]): void {
  for (const k of Object.keys(options)) {
    if (!allowed.includes(k)) throw new ConfigError(`Invalid parameter '${k}'`);
  }
}

const SUFFIX: Readonly<Record<string, number>> = {
  k: 2 ** 10,
  m: 2 ** 20,
  g: 2 ** 30,
  t: 2 ** 40,
  p: 2 ** 50,
};

/** A size option: a non-negative safe integer or a string with an optional K/M/G/T/P suffix. */
export function sizeOption(options: DriverOptions, key: string): number | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  let n: number | undefined;
  if (typeof v === 'number') n = v;
  else if (typeof v === 'string') {
    const m = /^(\d+)([kmgtpKMGTP]?)[bB]?$/.exec(v.trim());
    if (m) n = Number(m[1]) * (m[2] ? SUFFIX[m[2].toLowerCase()] : 1);
  }
  if (n === undefined || !Number.isSafeInteger(n) || n < 0) {
    throw new ConfigError(`Parameter '${key}' expects a non-negative number below 2^64`);
  }
  return n;
}

export function boolOption(options: DriverOptions, key: string): boolean | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v === 'boolean') return v;
  if (v === 'on' || v === 'true') return true;
  if (v === 'off' || v === 'false') return false;
  throw new ConfigError(`Parameter '${key}' expects 'on' or 'off'`);
}
