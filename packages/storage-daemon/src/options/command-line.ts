/**
 * The daemon's command line (qemu-storage-daemon's process_options): `--blockdev`, `--object` and
 * `--export` are repeatable and take effect in the order given, so that an export can name a node
 * and an iothread defined before it. Each value is parsed here; what it refers to is checked when
 * the daemon applies it.
 */
import { parseArgs } from 'node:util';
import { ConfigError, VmkitError, type BlockdevOptions, type ObjectAddOptions } from '@vmkit/core';
import { parseBlockdevOptions, parseObjectOptions } from './blockdev-object.js';
import { parseExportOptions, type ExportOptions } from './export.js';
import { parseKeyval } from './keyval.js';
import {
  parseChardevOptions,
  parseMonitorOptions,
  type ChardevOptions,
  type MonitorOptions,
} from './monitor.js';

/** One configuration step, in command-line order. */
export type DaemonAction =
  | { readonly kind: 'blockdev'; readonly text: string; readonly options: BlockdevOptions }
  | { readonly kind: 'object'; readonly text: string; readonly options: ObjectAddOptions }
  | { readonly kind: 'export'; readonly text: string; readonly options: ExportOptions }
  | {
      readonly kind: 'monitor';
      readonly text: string;
      readonly options: MonitorOptions;
      /** The --chardev it names (defined earlier on the command line). */
      readonly chardev: ChardevOptions;
    };

export type DaemonActionKind = DaemonAction['kind'];

export interface DaemonCommandLine {
  readonly help: boolean;
  readonly version: boolean;
  /** Written with the process id once every export listens (--pidfile). */
  readonly pidfile: string | undefined;
  readonly actions: readonly DaemonAction[];
}

/**
 * A command-line problem: `option` and `value` say where (`--export type=...`), the message says
 * which rule was broken. Its `message` is the line the daemon prints after its name.
 */
export class DaemonOptionError extends ConfigError {
  constructor(
    readonly option: string | null,
    readonly value: string | null,
    readonly detail: string,
  ) {
    super(option === null ? detail : `${option}${value === null ? '' : ` ${value}`}: ${detail}`);
  }

  /** Wraps a configuration or setup error (ConfigError, OsError...) met while handling `--option value`. */
  static wrap(option: string, value: string, e: unknown): unknown {
    if (!(e instanceof VmkitError) || e instanceof DaemonOptionError) return e;
    return new DaemonOptionError(option, value, e.message);
  }
}

const OPTIONS = {
  blockdev: { type: 'string', multiple: true },
  object: { type: 'string', multiple: true },
  export: { type: 'string', multiple: true },
  chardev: { type: 'string', multiple: true },
  monitor: { type: 'string', multiple: true },
  pidfile: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

type OptionName = keyof typeof OPTIONS;

function isOptionName(name: string): name is OptionName {
  return Object.hasOwn(OPTIONS, name);
}

function parseAction(kind: 'blockdev' | 'object' | 'export', text: string): DaemonAction {
  try {
    switch (kind) {
      case 'blockdev':
        return { kind, text, options: parseBlockdevOptions(text) };
      case 'object':
        return { kind, text, options: parseObjectOptions(text) };
      case 'export':
        return { kind, text, options: parseExportOptions(parseKeyval(text, 'type')) };
    }
  } catch (e) {
    throw DaemonOptionError.wrap(`--${kind}`, text, e);
  }
}

function wrapped<T>(option: string, text: string, parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    throw DaemonOptionError.wrap(option, text, e);
  }
}

/** Parses argv (without node and the script); throws DaemonOptionError. */
export function parseDaemonCommandLine(argv: readonly string[]): DaemonCommandLine {
  // Non-strict: unknown options and misplaced values come back as tokens and get QEMU-style messages.
  const { tokens } = parseArgs({
    args: [...argv],
    options: OPTIONS,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  let help = false;
  let version = false;
  let pidfile: string | undefined;
  const actions: DaemonAction[] = [];
  const chardevs = new Map<string, ChardevOptions>();
  const usedChardevs = new Set<string>();
  for (const token of tokens) {
    if (token.kind === 'positional') {
      throw new DaemonOptionError(null, null, `${token.value}: Unexpected argument`);
    }
    if (token.kind === 'option-terminator') continue;
    const { name, rawName, value } = token;
    if (!isOptionName(name)) throw new DaemonOptionError(null, null, `unrecognized option '${rawName}'`);
    const spec = OPTIONS[name];
    if (spec.type === 'boolean') {
      if (value !== undefined)
        throw new DaemonOptionError(null, null, `option '${rawName}' doesn't allow an argument`);
      if (name === 'help') help = true;
      else version = true;
      continue;
    }
    if (
      value === undefined ||
      (!token.inlineValue && value.startsWith('--') && isOptionName(value.slice(2)))
    ) {
      throw new DaemonOptionError(null, null, `option '${rawName}' requires an argument`);
    }
    if (name === 'pidfile') pidfile = value;
    else if (name === 'blockdev' || name === 'object' || name === 'export')
      actions.push(parseAction(name, value));
    else if (name === 'chardev') {
      const chardev = wrapped('--chardev', value, () => parseChardevOptions(value));
      if (chardevs.has(chardev.id)) {
        throw new DaemonOptionError('--chardev', value, `Duplicate ID '${chardev.id}' for chardev`);
      }
      chardevs.set(chardev.id, chardev);
    } else if (name === 'monitor') {
      const options = wrapped('--monitor', value, () => parseMonitorOptions(value));
      // In order, as qemu-storage-daemon's process_options: the chardev must come first.
      const chardev = chardevs.get(options.chardev);
      if (chardev === undefined) {
        throw new DaemonOptionError('--monitor', value, `chardev '${options.chardev}' not found`);
      }
      if (usedChardevs.has(chardev.id)) {
        throw new DaemonOptionError('--monitor', value, `Device '${chardev.id}' is in use`);
      }
      usedChardevs.add(chardev.id);
      actions.push({ kind: 'monitor', text: value, options, chardev });
    }
  }
  checkExports(actions);
  return { help, version, pidfile, actions };
}

/**
 * Export ids and socket paths are unique (QEMU: "Block export id '...' is already in use"), and no
 * export listens where a monitor does.
 */
function checkExports(actions: readonly DaemonAction[]): void {
  const ids = new Set<string>();
  const paths = new Map<string, string>();
  for (const a of actions) {
    if (a.kind !== 'export' && a.kind !== 'monitor') continue;
    const option = a.kind === 'export' ? '--export' : '--monitor';
    const path = a.kind === 'export' ? a.options.addr.path : a.chardev.path;
    if (a.kind === 'export') {
      if (ids.has(a.options.id)) {
        throw new DaemonOptionError(option, a.text, `Block export id '${a.options.id}' is already in use`);
      }
      ids.add(a.options.id);
    }
    const other = paths.get(path);
    if (other !== undefined) {
      const what = a.kind === 'export' ? 'addr.path' : 'path';
      throw new DaemonOptionError(option, a.text, `${what} '${path}' is already used by ${other}`);
    }
    paths.set(path, a.kind === 'export' ? `export '${a.options.id}'` : `chardev '${a.chardev.id}'`);
  }
}
