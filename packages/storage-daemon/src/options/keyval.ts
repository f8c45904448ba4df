/**
 * QEMU's key=value option syntax for the daemon's option values (keyval_parse): `a=b,c.d=e`,
 * `,,` for a literal comma, dotted keys for nested options, an implied first key (`--blockdev
 * file,...` is `driver=file`). The parsing itself is block-tools' (the syntax of vmkit-img
 * --image-opts); this file adds the typed reads the daemon's own options need, with QEMU's texts.
 */
import { ConfigError, tryParseSize } from '@vmkit/core';
import { parseOptionString, type OptionTree, type OptionValue } from '@vmkit/block-tools';

export type { OptionTree, OptionValue };

/** A nested set of options (not a string, list or null). */
export function isOptionTree(v: OptionValue | undefined): v is OptionTree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses an option value; `impliedKey` names a first element given without `key=`. */
export function parseKeyval(text: string, impliedKey: string): OptionTree {
  return parseOptionString(text, impliedKey);
}

const TRUE_WORDS: ReadonlySet<string> = new Set(['on', 'yes', 'true', 'y']);
const FALSE_WORDS: ReadonlySet<string> = new Set(['off', 'no', 'false', 'n']);

/**
 * Reads the keys of one option value, remembering which were used so that `finish()` can refuse
 * the rest as QEMU's visitors do (`Parameter 'bogus' is unexpected`). `prefix` spells nested keys
 * in messages (`addr.`).
 */
export class KeyvalReader {
  private readonly used = new Set<string>();

  constructor(
    private readonly tree: OptionTree,
    private readonly prefix = '',
  ) {}

  private name(key: string): string {
    return `${this.prefix}${key}`;
  }

  private take(key: string): OptionValue | undefined {
    this.used.add(key);
    return Object.hasOwn(this.tree, key) ? this.tree[key] : undefined;
  }

  /** A string value, or undefined when absent. */
  optionalString(key: string): string | undefined {
    const v = this.take(key);
    if (v === undefined) return undefined;
    if (typeof v !== 'string') {
      throw new ConfigError(`Invalid parameter type for '${this.name(key)}', expected: string`);
    }
    return v;
  }

  string(key: string): string {
    const v = this.optionalString(key);
    if (v === undefined) throw new ConfigError(`Parameter '${this.name(key)}' is missing`);
    return v;
  }

  /** on/off (also yes/no, true/false, y/n, as qapi_bool_parse). */
  bool(key: string, fallback: boolean): boolean {
    const v = this.optionalString(key);
    if (v === undefined) return fallback;
    if (TRUE_WORDS.has(v)) return true;
    if (FALSE_WORDS.has(v)) return false;
    throw new ConfigError(`Parameter '${this.name(key)}' expects 'on' or 'off'`);
  }

  /** An unsigned integer in decimal or 0x hex. */
  uint(key: string, fallback: number): number {
    const v = this.optionalString(key);
    if (v === undefined) return fallback;
    if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(v) || !Number.isSafeInteger(Number(v))) {
      throw new ConfigError(`Parameter '${this.name(key)}' expects a non-negative number below 2^53`);
    }
    return Number(v);
  }

  /** A byte count with an optional K/M/G/T/P/E suffix. */
  size(key: string, fallback: number): number {
    const v = this.optionalString(key);
    if (v === undefined) return fallback;
    const n = tryParseSize(v);
    if (n === undefined) throw new ConfigError(`Parameter '${this.name(key)}' expects a size`);
    return n;
  }

  /** A nested set of options (`addr.type=...`), read with its own reader. */
  nested(key: string): KeyvalReader {
    const v = this.take(key);
    if (v === undefined) throw new ConfigError(`Parameter '${this.name(key)}' is missing`);
    if (!isOptionTree(v)) {
      throw new ConfigError(`Invalid parameter type for '${this.name(key)}', expected: dict`);
    }
    return new KeyvalReader(v, `${this.name(key)}.`);
  }

  /** Refuses a key QEMU knows but this daemon does not implement. */
  unsupported(key: string, why: string): void {
    if (this.take(key) !== undefined) {
      throw new ConfigError(`Parameter '${this.name(key)}' is not supported by vmkit-storage-daemon: ${why}`);
    }
  }

  /** Throws for the first key that no read asked for. */
  finish(): void {
    for (const key of Object.keys(this.tree)) {
      if (!this.used.has(key)) throw new ConfigError(`Parameter '${this.name(key)}' is unexpected`);
    }
  }
}
