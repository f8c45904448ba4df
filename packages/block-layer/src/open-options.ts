/**
 * Generic node options of blockdev-add (read-only, discard, cache, detect-zeroes, node-name),
 * split from the driver-specific ones (bdrv_open_common / bdrv_fill_options).
 */
import { ConfigError } from '@vmkit/core';
import { defaultOpenFlags, type OpenFlags } from './constants.js';
import type { BlockdevOptions, DriverOptions } from './driver.js';

export interface GenericOptions {
  flags: OpenFlags;
  nodeName: string | undefined;
  driverOptions: DriverOptions;
}

const GENERIC_KEYS = new Set([
  'driver',
  'node-name',
  'read-only',
  'auto-read-only',
  'discard',
  'cache',
  'detect-zeroes',
  'force-share',
]);

function bool(options: BlockdevOptions, key: string): boolean | undefined {
  const v = options[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'boolean') throw new ConfigError(`Invalid parameter type for '${key}', expected: boolean`);
  return v;
}

/** Parses the generic keys; `inherit` are the flags inherited from a parent (nested child). */
export function parseGenericOptions(
  options: BlockdevOptions,
  inherit: Partial<OpenFlags> = {},
): GenericOptions {
  const flags = defaultOpenFlags();
  if (inherit.readOnly !== undefined) flags.readOnly = inherit.readOnly;
  if (inherit.discard !== undefined) flags.discard = inherit.discard;
  if (inherit.cache !== undefined) flags.cache = { ...inherit.cache };

  const nodeName = options['node-name'];
  if (nodeName !== undefined && typeof nodeName !== 'string') {
    throw new ConfigError("Invalid parameter type for 'node-name', expected: string");
  }
  flags.readOnly = bool(options, 'read-only') ?? flags.readOnly;
  flags.autoReadOnly = bool(options, 'auto-read-only') ?? false;

  const discard: unknown = options.discard;
  if (discard !== undefined) {
    if (discard === 'unmap' || discard === 'on') flags.discard = 'unmap';
    else if (discard === 'ignore' || discard === 'off') flags.discard = 'ignore';
    else throw new ConfigError('Invalid discard option');
  }

  const cache: unknown = options.cache;
  if (cache !== undefined) {
    if (typeof cache !== 'object' || cache === null) {
      throw new ConfigError("Invalid parameter type for 'cache', expected: object");
    }
    const c = cache as Record<string, unknown>;
    for (const k of Object.keys(c)) {
      if (k !== 'direct' && k !== 'no-flush') throw new ConfigError(`Invalid parameter 'cache.${k}'`);
      if (typeof c[k] !== 'boolean') {
        throw new ConfigError(`Invalid parameter type for 'cache.${k}', expected: boolean`);
      }
    }
    if (c.direct !== undefined) flags.cache.direct = c.direct as boolean;
    if (c['no-flush'] !== undefined) flags.cache.noFlush = c['no-flush'] as boolean;
  }

  const dz: unknown = options['detect-zeroes'];
  if (dz !== undefined) {
    if (dz !== 'off' && dz !== 'on' && dz !== 'unmap') {
      throw new ConfigError(`Parameter 'detect-zeroes' does not accept value '${JSON.stringify(dz)}'`);
    }
    if (dz === 'unmap' && flags.discard !== 'unmap') {
      throw new ConfigError(
        'setting detect-zeroes to unmap is not allowed without setting discard operation to unmap',
      );
    }
    flags.detectZeroes = dz;
  }

  const driverOptions: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(options)) if (!GENERIC_KEYS.has(k)) driverOptions[k] = v;
  return { flags, nodeName, driverOptions };
}
