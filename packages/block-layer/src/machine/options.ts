/**
 * blockdev options as users give them to the machine (QEMU's vocabulary in camelCase:
 * `nodeName`, `readOnly`, `cache: { noFlush }`) turned into the spelling the graph and the
 * drivers parse (`node-name`, `read-only`, `no-flush`). Keys already spelled QEMU's way pass
 * unchanged, so both forms work; nested child definitions and lists are converted too.
 */
import { ConfigError } from '@vmkit/core';
import type { BlockdevOptions } from '../driver.js';

function kebab(key: string): string {
  return key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

function convert(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(convert);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const [k, value] of Object.entries(v)) {
    if (value === undefined) continue;
    const key = kebab(k);
    if (Object.hasOwn(out, key))
      throw new ConfigError(`Parameter '${key}' is given twice (as '${k}' and '${key}')`);
    out[key] = convert(value);
  }
  return out;
}

/**
 * Converts and checks the top level of blockdev options: an object with a string `driver`.
 * `what` names the command in messages (`blockdev-add`).
 */
export function toQemuBlockdevOptions(options: unknown, what: string): BlockdevOptions {
  if (!isPlainObject(options)) throw new ConfigError(`${what}: options must be an object`);
  const out = convert(options) as Record<string, unknown>;
  const driver = out.driver;
  if (driver === undefined) throw new ConfigError("Parameter 'driver' is missing");
  if (typeof driver !== 'string')
    throw new ConfigError("Invalid parameter type for 'driver', expected: string");
  return out as BlockdevOptions;
}

/** The node name given in converted options, checked to be a string. */
export function nodeNameOf(options: BlockdevOptions): string | undefined {
  const name = options['node-name'];
  if (name !== undefined && typeof name !== 'string') {
    throw new ConfigError("Invalid parameter type for 'node-name', expected: string");
  }
  return name;
}
