/**
 * Scalar option values as fio and QEMU write them: sizes (`4k`, `64M`, or a byte count), durations
 * (`10` seconds, `500ms`, `2m`), integers in a range. Each parser returns the value or the rule
 * broken, so callers can attach the JSON path.
 */
import { tryParseSize } from '@vmkit/core';
import { jsonType, quote } from './issues.js';

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly rule: string };

function ok<T>(value: T): Parsed<T> {
  return { ok: true, value };
}
function fail<T>(rule: string): Parsed<T> {
  return { ok: false, rule };
}

const SIZE_RULE = 'expected a byte count or a size with a K, M, G or T suffix';

/** A size: a non-negative integer, or a string like QEMU's sizes (`4k`, `1.5M`, `0x200`). */
export function parseSizeValue(v: unknown): Parsed<number> {
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? ok(v) : fail(`${v}: ${SIZE_RULE}`);
  }
  if (typeof v === 'string') {
    const n = tryParseSize(v);
    return n === undefined ? fail(`${quote(v)}: ${SIZE_RULE}`) : ok(n);
  }
  return fail(`${SIZE_RULE}, got ${jsonType(v)}`);
}

const DURATION_RE = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/;
const DURATION_UNIT_NS: Readonly<Record<string, number>> = { ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };
const DURATION_RULE = "expected seconds, or a number with unit 'ms', 's', 'm' or 'h'";

/** A duration in ns: seconds as a number, or `500ms`, `10s`, `2m`, `1h` (fio's runtime). */
export function parseDurationNs(v: unknown): Parsed<number> {
  let seconds: number | undefined;
  if (typeof v === 'number') {
    seconds = Number.isFinite(v) && v >= 0 ? v : undefined;
  } else if (typeof v === 'string') {
    const m = DURATION_RE.exec(v);
    if (m !== null) return positive(Math.round(Number(m[1]) * DURATION_UNIT_NS[m[2] ?? 's']), v);
  } else {
    return fail(`${DURATION_RULE}, got ${jsonType(v)}`);
  }
  if (seconds === undefined) return fail(`${quote(v)}: ${DURATION_RULE}`);
  return positive(Math.round(seconds * 1e9), v);
}

function positive(ns: number, v: unknown): Parsed<number> {
  return ns > 0 ? ok(ns) : fail(`${quote(v)}: must be more than 0`);
}

/** An integer in [min, max]. */
export function parseIntIn(v: unknown, min: number, max: number): Parsed<number> {
  if (typeof v !== 'number' || !Number.isInteger(v)) {
    return fail(
      `expected an integer between ${min} and ${max}, got ${typeof v === 'number' ? v : jsonType(v)}`,
    );
  }
  return v >= min && v <= max ? ok(v) : fail(`${v}: must be between ${min} and ${max}`);
}

/** One of `values`. */
export function parseEnum<T extends string>(v: unknown, values: readonly T[]): Parsed<T> {
  if (typeof v === 'string' && (values as readonly string[]).includes(v)) return ok(v as T);
  return fail(`${typeof v === 'string' ? quote(v) : jsonType(v)}: must be one of ${values.join(', ')}`);
}
