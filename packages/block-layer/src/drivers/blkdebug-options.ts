/**
 * blkdebug options (QEMU block/blkdebug.c runtime_opts, BlockdevOptionsBlkdebug) and its config
 * file (the -readconfig .ini dialect: `[inject-error]` / `[set-state]` sections of
 * `key = "value"` lines, `#` comments).
 */
import { ConfigError, Errno, type ErrnoName } from '@vmkit/core';
import { Perm, type PermMask } from '../constants.js';
import { BLKDEBUG_EVENTS, type BlkdebugEvent, type DriverOptions } from '../driver.js';
import { checkKeys, sizeOption } from './options.js';

/** The operations an injected error may apply to (QAPI BlkdebugIOType). */
export type BlkdebugIoType = 'read' | 'write' | 'write-zeroes' | 'discard' | 'flush' | 'block-status';

export const BLKDEBUG_IO_TYPES: readonly BlkdebugIoType[] = [
  'read',
  'write',
  'write-zeroes',
  'discard',
  'flush',
  'block-status',
];

/** One `inject-error` rule as given (strings from a config file, or typed values). */
export interface InjectErrorSpec {
  /** A BlkdebugEvent name. */
  event: string;
  /** Only in this state (0 or absent: any state). */
  state?: number | string;
  /** Only for this operation (absent: every operation except block-status). */
  iotype?: BlkdebugIoType;
  /** Positive errno or its name ('EIO', 'ENOSPC'); default EIO. */
  errno?: number | string;
  /** Only requests covering this 512-byte sector (-1 or absent: any). */
  sector?: number | string;
  /** Remove the rule after its first injection. */
  once?: boolean | string;
  /** Fail without yielding to the event loop first. */
  immediately?: boolean | string;
}

/** One `set-state` rule as given. */
export interface SetStateSpec {
  event: string;
  state?: number | string;
  new_state: number | string;
}

/** A validated inject-error rule. */
export interface InjectErrorRule {
  readonly action: 'inject-error';
  readonly event: BlkdebugEvent;
  readonly state: number;
  /** Bit set over BLKDEBUG_IO_TYPES indices. */
  readonly iotypeMask: number;
  /** Positive errno; 0 injects nothing. */
  readonly errno: number;
  /** Byte offset (sector · 512) or -1 for any. */
  readonly offset: number;
  readonly once: boolean;
  readonly immediately: boolean;
}

export interface SetStateRule {
  readonly action: 'set-state';
  readonly event: BlkdebugEvent;
  readonly state: number;
  readonly newState: number;
}

export interface BlkdebugOptions {
  config: string | undefined;
  image: unknown;
  align: number;
  maxTransfer: number;
  optWriteZero: number;
  maxWriteZero: number;
  optDiscard: number;
  maxDiscard: number;
  injectError: InjectErrorRule[];
  setState: SetStateRule[];
  takeChildPerms: PermMask;
  unshareChildPerms: PermMask;
}

/** The bit of an I/O type in `iotypeMask`. */
export function ioTypeBit(t: BlkdebugIoType): number {
  return 1 << BLKDEBUG_IO_TYPES.indexOf(t);
}

/** Default mask: every type but block-status (QEMU add_rule). */
const DEFAULT_IOTYPE_MASK =
  ioTypeBit('read') |
  ioTypeBit('write') |
  ioTypeBit('write-zeroes') |
  ioTypeBit('discard') |
  ioTypeBit('flush');

/** A value for an error message (objects as JSON, not `[object Object]`). */
export function showValue(v: unknown): string {
  return typeof v === 'string' ? v : JSON.stringify(v);
}

/** Event names; QEMU's historic dotted spellings (`pwritev_rmw.head`) are accepted too. */
export function parseEvent(name: unknown): BlkdebugEvent {
  if (name === undefined || name === null || name === '')
    throw new ConfigError('Missing event name for rule');
  const s = showValue(name).replace(/\./g, '_');
  if (!(BLKDEBUG_EVENTS as readonly string[]).includes(s)) {
    throw new ConfigError(`Parameter 'event' does not accept value '${showValue(name)}'`);
  }
  return s as BlkdebugEvent;
}

function intValue(key: string, v: unknown, dflt: number): number {
  if (v === undefined) return dflt;
  const n = typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isSafeInteger(n))
    throw new ConfigError(`Parameter '${key}' expects a number`);
  return n;
}

function boolValue(key: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'on' || v === 'yes' || v === 'true') return true;
  if (v === 'off' || v === 'no' || v === 'false') return false;
  throw new ConfigError(`Parameter '${key}' expects 'on' or 'off'`);
}

function errnoValue(v: unknown): number {
  if (typeof v === 'string' && /^E[A-Z0-9]+$/.test(v)) {
    if (!(v in Errno)) throw new ConfigError(`Parameter 'errno' does not accept value '${v}'`);
    return Errno[v as ErrnoName];
  }
  const n = intValue('errno', v, Errno.EIO);
  if (n < 0) throw new ConfigError(`Parameter 'errno' expects a non-negative number`);
  return n;
}

function record(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new ConfigError(`Invalid parameter type for '${what}', expected: object`);
  }
  return v as Record<string, unknown>;
}

/** Validates one inject-error rule (add_rule, ACTION_INJECT_ERROR). */
export function injectErrorRule(spec: unknown): InjectErrorRule {
  const o = record(spec, 'inject-error');
  checkKeys(o, ['event', 'state', 'iotype', 'errno', 'sector', 'once', 'immediately']);
  const event = parseEvent(o.event);
  let iotypeMask = DEFAULT_IOTYPE_MASK;
  if (o.iotype !== undefined) {
    if (!(BLKDEBUG_IO_TYPES as readonly unknown[]).includes(o.iotype)) {
      throw new ConfigError(`Parameter 'iotype' does not accept value '${showValue(o.iotype)}'`);
    }
    iotypeMask = ioTypeBit(o.iotype as BlkdebugIoType);
  }
  const sector = intValue('sector', o.sector, -1);
  if (sector < -1) throw new ConfigError("Parameter 'sector' expects -1 or a sector number");
  return {
    action: 'inject-error',
    event,
    state: intValue('state', o.state, 0),
    iotypeMask,
    errno: errnoValue(o.errno),
    offset: sector === -1 ? -1 : sector * 512,
    once: boolValue('once', o.once),
    immediately: boolValue('immediately', o.immediately),
  };
}

/** Validates one set-state rule (add_rule, ACTION_SET_STATE). */
export function setStateRule(spec: unknown): SetStateRule {
  const o = record(spec, 'set-state');
  checkKeys(o, ['event', 'state', 'new_state']);
  return {
    action: 'set-state',
    event: parseEvent(o.event),
    state: intValue('state', o.state, 0),
    newState: intValue('new_state', o.new_state, 0),
  };
}

export interface BlkdebugConfig {
  injectError: Record<string, string>[];
  setState: Record<string, string>[];
}

/**
 * Parses a blkdebug config file (qemu_config_parse). Sections other than `[inject-error]` and
 * `[set-state]` are refused, as are keys outside a section.
 */
export function parseBlkdebugConfig(text: string, filename = 'config'): BlkdebugConfig {
  const out: BlkdebugConfig = { injectError: [], setState: [] };
  let current: Record<string, string> | null = null;
  const lines = text.split(/\r?\n/);
  const fail = (line: number, why: string): never => {
    throw new ConfigError(`Could not parse blkdebug config file: ${filename}:${line}: ${why}`);
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].trim();
    if (line === '' || line.startsWith('#')) continue;
    const section = /^\[([A-Za-z0-9_-]+)(?:\s+"[^"]*")?\]$/.exec(line);
    if (section) {
      current = {};
      if (section[1] === 'inject-error') out.injectError.push(current);
      else if (section[1] === 'set-state') out.setState.push(current);
      else fail(i + 1, `There is no option group '${section[1]}'`);
      continue;
    }
    const kv = /^([A-Za-z0-9_.-]+)\s*=\s*(?:"([^"]*)"|([^"\s]+))$/.exec(line);
    if (!kv) fail(i + 1, 'Invalid line');
    if (current === null) fail(i + 1, 'no group defined');
    current![kv![1]] = kv![2] ?? kv![3];
  }
  return out;
}

function listOption(options: DriverOptions, key: string): unknown[] {
  const v = options[key];
  if (v === undefined) return [];
  if (!Array.isArray(v)) throw new ConfigError(`Invalid parameter type for '${key}', expected: array`);
  return v;
}

const PERM_NAMES: Readonly<Record<string, PermMask>> = {
  'consistent-read': Perm.CONSISTENT_READ,
  write: Perm.WRITE,
  'write-unchanged': Perm.WRITE_UNCHANGED,
  resize: Perm.RESIZE,
};

function permList(options: DriverOptions, key: string): PermMask {
  let mask = 0;
  for (const p of listOption(options, key)) {
    const bit = typeof p === 'string' ? PERM_NAMES[p] : undefined;
    if (bit === undefined)
      throw new ConfigError(`Parameter '${key}' does not accept value '${showValue(p)}'`);
    mask |= bit;
  }
  return mask;
}

/**
 * Validates the driver options. Sizes are checked against each other in open(), once the image's
 * own request alignment is known (QEMU does the same).
 */
export function parseBlkdebugOptions(options: DriverOptions): BlkdebugOptions {
  checkKeys(options, [
    'config',
    'image',
    'align',
    'max-transfer',
    'opt-write-zero',
    'max-write-zero',
    'opt-discard',
    'max-discard',
    'inject-error',
    'set-state',
    'take-child-perms',
    'unshare-child-perms',
  ]);
  const config = options.config;
  if (config !== undefined && typeof config !== 'string') {
    throw new ConfigError("Invalid parameter type for 'config', expected: string");
  }
  return {
    config,
    image: options.image,
    align: sizeOption(options, 'align') ?? 0,
    maxTransfer: sizeOption(options, 'max-transfer') ?? 0,
    optWriteZero: sizeOption(options, 'opt-write-zero') ?? 0,
    maxWriteZero: sizeOption(options, 'max-write-zero') ?? 0,
    optDiscard: sizeOption(options, 'opt-discard') ?? 0,
    maxDiscard: sizeOption(options, 'max-discard') ?? 0,
    injectError: listOption(options, 'inject-error').map(injectErrorRule),
    setState: listOption(options, 'set-state').map(setStateRule),
    takeChildPerms: permList(options, 'take-child-perms'),
    unshareChildPerms: permList(options, 'unshare-child-perms'),
  };
}

const INT_MAX = 0x7fffffff;

/**
 * blkdebug_open's limit checks, with QEMU's texts. `childAlign` is the image's request alignment.
 */
export function validateBlkdebugLimits(o: BlkdebugOptions, childAlign: number): void {
  const fail = (name: string, v: number): never => {
    throw new ConfigError(`Cannot meet constraints with ${name} ${v}`);
  };
  if (o.align && (o.align >= INT_MAX || (o.align & (o.align - 1)) !== 0)) fail('align', o.align);
  const align = Math.max(o.align, childAlign);
  const check = (name: string, v: number, multipleOf: number): void => {
    if (v && (v >= INT_MAX || v % multipleOf !== 0)) fail(name, v);
  };
  check('max-transfer', o.maxTransfer, align);
  check('opt-write-zero', o.optWriteZero, align);
  check('max-write-zero', o.maxWriteZero, Math.max(o.optWriteZero, align));
  check('opt-discard', o.optDiscard, align);
  check('max-discard', o.maxDiscard, Math.max(o.optDiscard, align));
}
