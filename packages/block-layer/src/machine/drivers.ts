/**
 * The drivers the block-layer plugin contributes: every block driver exported by src/drivers
 * (memory, null-co, raw, and file and blkdebug once they exist), found by shape so that new
 * drivers are picked up without editing this file.
 */
import { ConfigError } from '@vmkit/core';
import type { AnyBlockDriver, DriverKind } from '../driver.js';
import * as driverModule from '../drivers/index.js';

const KINDS: readonly DriverKind[] = ['protocol', 'format', 'filter'];

/** Whether `v` looks like a block-layer driver (a name, a kind and an open method). */
export function isBlockDriver(v: unknown): v is AnyBlockDriver {
  if (typeof v !== 'object' || v === null) return false;
  const d = v as { name?: unknown; kind?: unknown; open?: unknown };
  return (
    typeof d.name === 'string' &&
    typeof d.kind === 'string' &&
    KINDS.includes(d.kind as DriverKind) &&
    typeof d.open === 'function'
  );
}

/** The built-in drivers, by name, each once. */
export function builtinDrivers(): AnyBlockDriver[] {
  const found = new Map<string, AnyBlockDriver>();
  const add = (v: unknown): void => {
    if (isBlockDriver(v) && !found.has(v.name)) found.set(v.name, v);
  };
  for (const value of Object.values(driverModule) as unknown[]) {
    if (Array.isArray(value)) for (const item of value as unknown[]) add(item);
    else add(value);
  }
  return [...found.values()].sort((a, b) => a.name.localeCompare(b.name));
}

/** Checks a driver contributed through core's BLOCK_DRIVER token before the graph registers it. */
export function requireBlockDriver(v: unknown, plugin: string | undefined): AnyBlockDriver {
  if (isBlockDriver(v)) return v;
  const name = (v as { name?: unknown } | null)?.name;
  throw new ConfigError(
    `block driver '${String(name)}'${plugin ? ` (plugin '${plugin}')` : ''} is not a block-layer driver: it needs a kind and an open method`,
  );
}
