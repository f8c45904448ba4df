/**
 * Property schemas of device and object types (QEMU's qdev properties), the parsing of user values
 * (numbers, booleans and sizes may be given as strings, as on QEMU's command line) and the validation
 * that `deviceAdd`/`objectAdd` run before anything is created.
 *
 * Error texts name the owner, the property, the value and the rule:
 * `virtio-blk 'vda': property 'queue-size' = 3: must be a power of two between 4 and 1024`.
 */

import { ConfigError } from '../errors.js';

interface PropertyBase<T> {
  readonly description?: string;
  /** Value used when the property is not given; a property with a default is always present. */
  readonly default?: T;
  /** A property without default that must be given. */
  readonly required?: boolean;
  /** Extra rule run after the built-in ones: returns the rule broken (`'must be a multiple of 512'`). */
  check?(value: T): string | undefined;
}

export interface BoolProperty extends PropertyBase<boolean> {
  readonly kind: 'bool';
}

interface NumericRules {
  readonly min?: number;
  readonly max?: number;
  readonly powerOfTwo?: boolean;
}

/** A safe integer; strings in decimal or `0x` hex are accepted. */
export interface IntProperty extends PropertyBase<number>, NumericRules {
  readonly kind: 'int';
}

/** A byte count; strings may carry a K, M, G, T, P or E suffix (powers of 1024): `'64K'`, `'1.5G'`. */
export interface SizeProperty extends PropertyBase<number>, NumericRules {
  readonly kind: 'size';
}

export interface StringProperty extends PropertyBase<string> {
  readonly kind: 'string';
  readonly pattern?: RegExp;
}

export interface EnumProperty<V extends string = string> extends PropertyBase<V> {
  readonly kind: 'enum';
  readonly values: readonly V[];
}

/**
 * The id of another entity: an object of type `target` (`'iothread'`, `'throttle-group'`) or, with
 * target `'blockdev'`, a block node or backend known to the block layer. The value is the id.
 */
export interface LinkProperty extends PropertyBase<string> {
  readonly kind: 'link';
  readonly target: string;
}

export type PropertySpec =
  BoolProperty | IntProperty | SizeProperty | StringProperty | EnumProperty | LinkProperty;

export type PropertyKind = PropertySpec['kind'];

export type PropertySchema = { readonly [name: string]: PropertySpec };

export type PropertyValue = boolean | number | string;

type SpecValue<P> = P extends { kind: 'bool' }
  ? boolean
  : P extends { kind: 'int' | 'size' }
    ? number
    : P extends { kind: 'enum'; values: readonly (infer V)[] }
      ? V
      : string;

type AlwaysPresent<P> = P extends { default: unknown } ? true : P extends { required: true } ? true : false;

/** The validated values handed to `create()`: properties without default and not required may be undefined. */
export type PropertyValues<S extends PropertySchema> = {
  readonly [K in keyof S]: AlwaysPresent<S[K]> extends true ? SpecValue<S[K]> : SpecValue<S[K]> | undefined;
};

/** A property rule broken by a user value; `message` is the full text, the fields its parts. */
export class PropertyError extends ConfigError {
  constructor(
    /** `virtio-blk 'vda'` or `iothread 'io0'`. */
    readonly owner: string,
    readonly property: string,
    readonly value: unknown,
    readonly rule: string,
  ) {
    super(`${owner}: property '${property}' = ${formatValue(value)}: ${rule}`);
  }
}

/** How link properties find their targets. */
export interface LinkResolver {
  /** The type name of object `id`, undefined when there is none. */
  objectType(id: string): string | undefined;
  /** Whether a block node or backend `id` exists; undefined when no block layer is loaded. */
  hasBlockdev(id: string): boolean | undefined;
}

/** Renders a user value in error messages: strings quoted, numbers and booleans bare. */
export function formatValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `'${value}'`;
    case 'number':
    case 'boolean':
    case 'undefined':
      return String(value);
    case 'bigint':
      return `${value}n`;
    default:
      try {
        return JSON.stringify(value) ?? String(value);
      } catch {
        return Object.prototype.toString.call(value);
      }
  }
}

const SIZE_UNITS = ['', 'K', 'M', 'G', 'T', 'P', 'E'] as const;
const SIZE_RE = /^\s*(?:(0x[0-9a-f]+)|(\d+(?:\.\d+)?))\s*([bkmgtpe])?\s*$/i;

/**
 * Parses a size like QEMU's qemu_strtosz: a decimal (fractions allowed with a suffix) or `0x` hex
 * number with an optional B, K, M, G, T, P or E suffix (case-insensitive, powers of 1024).
 * Returns undefined for anything else, for a fractional byte count and beyond 2^53 - 1.
 */
export function tryParseSize(text: string): number | undefined {
  const m = SIZE_RE.exec(text);
  if (!m) return undefined;
  const [, hex, dec, suffix] = m;
  const unit = suffix?.toUpperCase() ?? '';
  const exponent = unit === 'B' ? 0 : SIZE_UNITS.indexOf(unit as (typeof SIZE_UNITS)[number]);
  const multiplier = 1024 ** exponent;
  const bytes = hex !== undefined ? Number.parseInt(hex, 16) * multiplier : Number(dec) * multiplier;
  return Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : undefined;
}

/** Parses a size (see tryParseSize), throwing ConfigError for an invalid one. */
export function parseSize(text: string): number {
  const bytes = tryParseSize(text);
  if (bytes === undefined) throw new ConfigError(`invalid size '${text}': ${SIZE_RULE}`);
  return bytes;
}

/** `65536` → `'64K'`: the largest unit that divides the byte count exactly, else plain bytes. */
export function formatSize(bytes: number): string {
  let i = 0;
  while (i < SIZE_UNITS.length - 1 && bytes !== 0 && bytes % 1024 ** (i + 1) === 0) i++;
  return `${bytes / 1024 ** i}${SIZE_UNITS[i]}`;
}

const SIZE_RULE = 'must be a byte count with an optional K, M, G, T, P or E suffix';

function isPowerOfTwo(n: number): boolean {
  return n > 0 && 2 ** Math.round(Math.log2(n)) === n;
}

function numericRule(rules: NumericRules, fmt: (n: number) => string): string {
  const p2 = rules.powerOfTwo === true;
  const { min, max } = rules;
  if (min !== undefined && max !== undefined) {
    return `must be ${p2 ? 'a power of two ' : ''}between ${fmt(min)} and ${fmt(max)}`;
  }
  if (min !== undefined) return `must be ${p2 ? 'a power of two of ' : ''}at least ${fmt(min)}`;
  if (max !== undefined) return `must be ${p2 ? 'a power of two of ' : ''}at most ${fmt(max)}`;
  return 'must be a power of two';
}

function breaksNumericRules(n: number, rules: NumericRules): boolean {
  return (
    (rules.min !== undefined && n < rules.min) ||
    (rules.max !== undefined && n > rules.max) ||
    (rules.powerOfTwo === true && !isPowerOfTwo(n))
  );
}

const INT_RE = /^\s*(?:-?\d+|0x[0-9a-f]+)\s*$/i;

function parseInteger(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) ? value : undefined;
  if (typeof value !== 'string' || !INT_RE.test(value)) return undefined;
  const n = Number(value.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

const BOOL_STRINGS: Readonly<Record<string, boolean>> = {
  on: true,
  off: false,
  true: true,
  false: false,
  yes: true,
  no: false,
};

/** The outcome of checking one value: the parsed value or the rule it breaks. */
type Checked<T> = { ok: true; value: T } | { ok: false; rule: string };

function fail(rule: string): { ok: false; rule: string } {
  return { ok: false, rule };
}

/**
 * Parses and checks one user value against its spec, without resolving links (`checkLink` does that).
 * Exported for type registries, which check defaults when plugins are loaded.
 */
export function checkValue(spec: PropertySpec, value: unknown): Checked<PropertyValue> {
  let result: Checked<PropertyValue>;
  switch (spec.kind) {
    case 'bool': {
      const b =
        typeof value === 'boolean' ? value : typeof value === 'string' ? BOOL_STRINGS[value] : undefined;
      result =
        b === undefined ? fail('must be a boolean (true/false, on/off, yes/no)') : { ok: true, value: b };
      break;
    }
    case 'int': {
      const n = parseInteger(value);
      if (n === undefined) result = fail('must be an integer');
      else if (breaksNumericRules(n, spec)) result = fail(numericRule(spec, String));
      else result = { ok: true, value: n };
      break;
    }
    case 'size': {
      const n =
        typeof value === 'number'
          ? Number.isSafeInteger(value) && value >= 0
            ? value
            : undefined
          : typeof value === 'string'
            ? tryParseSize(value)
            : undefined;
      if (n === undefined) result = fail(SIZE_RULE);
      else if (breaksNumericRules(n, spec)) result = fail(numericRule(spec, formatSize));
      else result = { ok: true, value: n };
      break;
    }
    case 'string':
      if (typeof value !== 'string') result = fail('must be a string');
      else if (spec.pattern && !spec.pattern.test(value)) result = fail(`must match ${String(spec.pattern)}`);
      else result = { ok: true, value };
      break;
    case 'enum':
      result =
        typeof value === 'string' && spec.values.includes(value)
          ? { ok: true, value }
          : fail(`must be one of ${spec.values.map((v) => `'${v}'`).join(', ')}`);
      break;
    case 'link':
      result =
        typeof value === 'string' && value !== ''
          ? { ok: true, value }
          : fail(
              `must be the id of ${spec.target === 'blockdev' ? 'a blockdev' : `an object of type '${spec.target}'`}`,
            );
      break;
  }
  if (result.ok && spec.check) {
    const rule = (spec.check as (v: PropertyValue) => string | undefined)(result.value);
    if (rule !== undefined) return fail(rule);
  }
  return result;
}

/** Resolves a link value; returns the rule broken or undefined. */
function checkLink(spec: LinkProperty, id: string, links: LinkResolver): string | undefined {
  if (spec.target === 'blockdev') {
    const exists = links.hasBlockdev(id);
    if (exists === undefined) return `no blockdev '${id}' (no block layer: load blockLayerPlugin)`;
    return exists ? undefined : `no blockdev '${id}'`;
  }
  const type = links.objectType(id);
  if (type === undefined) return `no object '${id}'`;
  return type === spec.target ? undefined : `object '${id}' has type '${type}', not '${spec.target}'`;
}

/**
 * Validates user input against a schema before anything is created (qdev_device_add sets every
 * property before realize). Unknown properties are reported first, then each schema property in
 * declaration order. `owner` prefixes every message (`virtio-blk 'vda'`). Absent values and
 * `undefined` take the default. Throws PropertyError/ConfigError; returns the parsed values.
 */
export function validateProperties<S extends PropertySchema>(
  owner: string,
  schema: S,
  input: Readonly<Record<string, unknown>>,
  links: LinkResolver,
): PropertyValues<S> {
  const names = Object.keys(schema);
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(schema, key) && input[key] !== undefined) {
      const known = names.length > 0 ? names.join(', ') : 'none';
      throw new ConfigError(`${owner}: unknown property '${key}' (known: ${known})`);
    }
  }
  const values: Record<string, PropertyValue | undefined> = {};
  for (const name of names) {
    const spec = schema[name];
    const given = Object.hasOwn(input, name) ? input[name] : undefined;
    const raw: unknown = given !== undefined ? given : spec.default;
    if (raw === undefined) {
      if (spec.required === true) throw new ConfigError(`${owner}: property '${name}' is required`);
      values[name] = undefined;
      continue;
    }
    const checked = checkValue(spec, raw);
    if (!checked.ok) throw new PropertyError(owner, name, raw, checked.rule);
    if (spec.kind === 'link') {
      const rule = checkLink(spec, checked.value as string, links);
      if (rule !== undefined) throw new PropertyError(owner, name, raw, rule);
    }
    values[name] = checked.value;
  }
  return values as PropertyValues<S>;
}

/**
 * Checks a schema itself (called when a type is registered): reserved names, enum values, ranges,
 * and that every non-link default obeys its own rules. Returns the first problem or undefined.
 */
export function schemaProblem(schema: PropertySchema, reserved: readonly string[]): string | undefined {
  for (const [name, spec] of Object.entries(schema)) {
    if (reserved.includes(name)) return `property name '${name}' is reserved`;
    if (spec.kind === 'enum' && spec.values.length === 0) return `enum property '${name}' has no values`;
    if ((spec.kind === 'int' || spec.kind === 'size') && spec.min !== undefined && spec.max !== undefined) {
      if (spec.min > spec.max) return `property '${name}' has min ${spec.min} above max ${spec.max}`;
    }
    if (spec.default !== undefined && spec.kind !== 'link') {
      const checked = checkValue(spec, spec.default);
      if (!checked.ok) return `default of property '${name}' = ${formatValue(spec.default)}: ${checked.rule}`;
    }
  }
  return undefined;
}
