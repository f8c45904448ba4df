/**
 * Number parsing and printing as qemu-io and qemu-img do it: sizes with K/M/G/T/P/E suffixes and
 * hex (qemu_strtosz, the `cvtnum` of qemu-io-cmds.c), human-readable sizes (`cvtstr`), elapsed
 * times (`timestr`) and C's `%f`-style fixed-point output.
 */

/** Why a number was refused: the two messages qemu-io prints (`print_cvtnum_err`). */
export type NumberError = 'invalid' | 'range';

/** A parsed size, or why it was refused. `warning` is set for deprecated spellings (`0x1k`). */
export type ParsedSize =
  | { readonly ok: true; readonly value: number; readonly warning?: string }
  | { readonly ok: false; readonly error: NumberError };

const SUFFIX_SHIFT: Readonly<Record<string, number>> = { b: 0, k: 10, m: 20, g: 30, t: 40, p: 50, e: 60 };
const INT64_MAX = (1n << 63n) - 1n;

const invalid: ParsedSize = { ok: false, error: 'invalid' };
const range: ParsedSize = { ok: false, error: 'range' };

/**
 * qemu_strtosz: `512`, `4k`, `1.5M`, `0x200`, `010` (decimal, not octal). A fraction needs a
 * multiplying suffix (`1.5` is refused, `1.0` is accepted); a minus sign anywhere is refused;
 * values above INT64_MAX are out of range. Values beyond 2^53 lose precision (the block layer
 * refuses them anyway).
 */
export function parseSize(text: string): ParsedSize {
  const s = text.replace(/^[ \t\n\v\f\r]+/, '');
  const hex = /^\+?0[xX]([0-9a-fA-F]+)([bBkKmMgGtTpPeE]?)$/.exec(s);
  if (hex) {
    let v = BigInt('0x' + hex[1]);
    let warning: string | undefined;
    if (hex[2]) {
      v <<= BigInt(SUFFIX_SHIFT[hex[2].toLowerCase()]);
      warning = `Using a multiplier suffix on hex numbers is deprecated: ${text}`;
    }
    if (v > INT64_MAX) return range;
    return warning === undefined ? { ok: true, value: Number(v) } : { ok: true, value: Number(v), warning };
  }
  const dec = /^\+?([0-9]+)(?:\.([0-9]*))?([bBkKmMgGtTpPeE]?)$/.exec(s);
  if (!dec) return invalid;
  const shift = dec[3] ? SUFFIX_SHIFT[dec[3].toLowerCase()] : 0;
  const fraction = dec[2] ?? '';
  const fractionIsZero = /^0*$/.test(fraction);
  if (!fractionIsZero && shift === 0) return invalid; // partial bytes
  let v = BigInt(dec[1]) << BigInt(shift);
  if (!fractionIsZero) v += BigInt(Math.floor(Number('0.' + fraction) * 2 ** shift));
  if (v > INT64_MAX) return range;
  return { ok: true, value: Number(v) };
}

/** The message qemu-io prints for a refused number (print_cvtnum_err). */
export function numberErrorMessage(error: NumberError, arg: string): string {
  return error === 'range'
    ? `Parsing error: argument too large -- ${arg}`
    : `Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- ${arg}`;
}

/** C's `%.<digits>f`: fixed notation, `inf`/`nan` like glibc. */
export function fixed(value: number, digits: number): string {
  if (Number.isNaN(value)) return value < 0 ? '-nan' : 'nan';
  if (!Number.isFinite(value)) return value < 0 ? '-inf' : 'inf';
  return value.toFixed(digits);
}

const UNITS: ReadonlyArray<readonly [number, string]> = [
  [2 ** 60, ' EiB'],
  [2 ** 50, ' PiB'],
  [2 ** 40, ' TiB'],
  [2 ** 30, ' GiB'],
  [2 ** 20, ' MiB'],
  [2 ** 10, ' KiB'],
];

/**
 * cvtstr: `4 KiB`, `2.930 KiB`, `512 bytes`. Three decimals for binary units, six for bytes, and
 * the first `.000` found cuts the number (so `1.0004 bytes` prints as `1 bytes`, like QEMU).
 */
export function cvtstr(value: number): string {
  let text: string;
  let suffix = ' bytes';
  const unit = UNITS.find(([size]) => value >= size);
  if (unit !== undefined) {
    text = fixed(value / unit[0], 3);
    suffix = unit[1];
  } else {
    text = fixed(value, 6);
  }
  const cut = text.indexOf('.000');
  return cut >= 0 ? text.slice(0, cut) + suffix : text + suffix;
}

/** Two-digit zero padding (`%02u`). */
function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** `%05.2f`: seconds with two decimals, zero-padded to five characters. */
function seconds2(sec: number): string {
  const t = fixed(sec, 2);
  return t.length < 5 ? '0'.repeat(5 - t.length) + t : t;
}

/**
 * timestr (QEMU 7.x): `00.42 sec` while less than one whole second passed; `H:MM:SS.ss` from one
 * second on, and always with `verbose` (the -C format).
 */
export function timestr(elapsedNs: number, verbose: boolean): string {
  const totalSec = Math.floor(elapsedNs / 1e9);
  const frac = (elapsedNs - totalSec * 1e9) / 1e9;
  if (verbose || totalSec > 0) {
    const h = Math.floor(totalSec / 3600);
    const m = Math.floor((totalSec % 3600) / 60);
    return `${h}:${pad2(m)}:${seconds2((totalSec % 60) + frac)}`;
  }
  return `${seconds2(frac)} sec`;
}

/** C's `%0.3g`: three significant digits, trailing zeros dropped, `1e+03` style exponents. */
export function g3(value: number): string {
  if (value === 0) return '0';
  const exp = Math.floor(Math.log10(Math.abs(Number(value.toPrecision(3)))));
  if (exp < -4 || exp >= 3) {
    const [mant, e] = value.toExponential(2).split('e');
    const m = mant.includes('.') ? mant.replace(/0+$/, '').replace(/\.$/, '') : mant;
    const n = Number(e);
    return `${m}e${n < 0 ? '-' : '+'}${pad2(Math.abs(n))}`;
  }
  const t = value.toFixed(Math.max(0, 2 - exp));
  return t.includes('.') ? t.replace(/0+$/, '').replace(/\.$/, '') : t;
}

const SIZE_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'];

/** size_to_str (qemu-img): `4 KiB`, `2.93 KiB`, `0.977 KiB`, `512 B`. */
export function sizeToStr(bytes: number): string {
  // The unit is chosen so that the number stays below 1000 (frexp of val / (1000/1024)).
  const scaled = bytes / (1000 / 1024);
  const bits = scaled >= 1 ? Math.floor(Math.log2(scaled)) + 1 : 0;
  const i = Math.min(SIZE_SUFFIXES.length - 1, Math.max(0, Math.floor((bits - 1) / 10)));
  return `${g3(bytes / 2 ** (i * 10))} ${SIZE_SUFFIXES[i]}B`;
}

/** qemu-img's virtual size: `1 MiB (1048576 bytes)`. */
export function sizeWithBytes(bytes: number): string {
  return `${sizeToStr(bytes)} (${bytes} bytes)`;
}
