/**
 * getopt(3)-style parsing of a command's arguments on top of Node's `util.parseArgs`: an option
 * string such as `"bCl:pP:qs:v"` (a letter followed by `:` takes a value), options anywhere
 * before `--` (GNU permutation), grouped flags (`-qv`), attached values (`-P0x55`), and GNU
 * getopt's diagnostics (`read: invalid option -- 'x'`).
 */
import { parseArgs } from 'node:util';

/** One option as met, in command-line order (value is `true` for flags). */
export interface GetoptOption {
  readonly letter: string;
  readonly value: string | true;
}

export type GetoptResult =
  | { readonly ok: true; readonly options: readonly GetoptOption[]; readonly operands: readonly string[] }
  /** `message` is GNU getopt's complaint, without the program name. */
  | { readonly ok: false; readonly message: string };

type ParseArgsOptions = Record<string, { type: 'string' | 'boolean'; short?: string }>;

interface Compiled {
  readonly options: ParseArgsOptions;
  readonly takesValue: ReadonlySet<string>;
  /** parseArgs option name -> the letter (or long-only name) reported to the caller. */
  readonly reported: ReadonlyMap<string, string>;
}

const specCache = new Map<string, Compiled>();

/**
 * Compiles a getopt string plus long options. `longOptions` maps a long name to the short letter
 * it stands for (`{ cmd: 'c' }`), or to itself for a long-only option; a trailing `:` on a
 * long-only name (`'object:'`) means it takes a value.
 */
function compile(spec: string, longOptions: Readonly<Record<string, string>>): Compiled {
  const key = `${spec}\0${JSON.stringify(longOptions)}`;
  let c = specCache.get(key);
  if (c !== undefined) return c;
  const options: ParseArgsOptions = {};
  const takesValue = new Set<string>();
  const reported = new Map<string, string>();
  const longFor = new Map<string, string>();
  for (const [long, target] of Object.entries(longOptions)) {
    if (target.replace(/:$/, '') === long) {
      const value = target.endsWith(':');
      options[long] = { type: value ? 'string' : 'boolean' };
      if (value) takesValue.add(long);
      reported.set(long, long);
    } else longFor.set(target, long);
  }
  for (let i = 0; i < spec.length; i++) {
    const letter = spec[i];
    const value = spec[i + 1] === ':';
    if (value) i++;
    const name = longFor.get(letter) ?? letter;
    options[name] = { type: value ? 'string' : 'boolean', short: letter };
    if (value) takesValue.add(name);
    reported.set(name, letter);
  }
  c = { options, takesValue, reported };
  specCache.set(key, c);
  return c;
}

/**
 * Parses `args` (without the command name) against a getopt option string (and optional long
 * options, see `compile`). Options are reported by their short letter.
 */
export function getopt(
  args: readonly string[],
  spec: string,
  longOptions: Readonly<Record<string, string>> = {},
): GetoptResult {
  const { options, takesValue, reported } = compile(spec, longOptions);
  const { tokens } = parseArgs({
    args: [...args],
    options,
    strict: false,
    allowPositionals: true,
    tokens: true,
  });
  const out: GetoptOption[] = [];
  const operands: string[] = [];
  for (const t of tokens) {
    if (t.kind === 'positional') operands.push(t.value);
    else if (t.kind === 'option') {
      const letter = reported.get(t.name);
      const long = t.rawName.startsWith('--');
      if (letter === undefined) {
        return {
          ok: false,
          message: long ? `unrecognized option '${t.rawName}'` : `invalid option -- '${t.name}'`,
        };
      }
      if (takesValue.has(t.name)) {
        if (t.value === undefined) {
          return {
            ok: false,
            message: long
              ? `option '${t.rawName}' requires an argument`
              : `option requires an argument -- '${letter}'`,
          };
        }
        out.push({ letter, value: t.value });
      } else out.push({ letter, value: true });
    }
  }
  return { ok: true, options: out, operands };
}
