/**
 * Command argument schemas in QAPI's notation, and their validation with the messages of QEMU's
 * QObject input visitor (qapi/qobject-input-visitor.c):
 *
 * ```ts
 * { '*device': 'str', '*node-name': 'str', size: 'int' }   // block_resize
 * ```
 * A leading `*` marks an optional member; types are `'str' | 'int' | 'number' | 'bool' | 'null' |
 * 'any'`, `{ enum: [...] }`, `{ struct: {...}, extra?: true }` and `[T]` for a list of T. Members
 * are checked in schema order (missing, then wrong type), then the members the schema does not
 * know: "Parameter 'device' is missing", "Invalid parameter type for 'size', expected: integer",
 * "Parameter 'foo' is unexpected", "Parameter 'enable[0]' does not accept value 'x'".
 */
import { QmpError } from './errors.js';
import { defineMember, isJsonObject, type JsonObject, type JsonValue } from './json/index.js';

export type QmpScalarType = 'str' | 'int' | 'number' | 'bool' | 'null' | 'any';

export interface QmpEnumType<V extends string = string> {
  readonly enum: readonly V[];
}

export interface QmpStructType<S extends QmpArgsSchema = QmpArgsSchema> {
  readonly struct: S;
  /** Accept members the schema does not name (flat unions whose variants are checked elsewhere). */
  readonly extra?: boolean;
}

/** A list: `['str']`. */
export type QmpListType = readonly [QmpType];

export type QmpType = QmpScalarType | QmpEnumType | QmpStructType | QmpListType;

/** Members of an argument object; `'*name'` is optional. */
export type QmpArgsSchema = { readonly [member: string]: QmpType };

type Simplify<T> = { [K in keyof T]: T[K] } & {};

/** The TypeScript type of a validated value of QMP type `T`. */
export type QmpValueOf<T> = T extends 'str'
  ? string
  : T extends 'int' | 'number'
    ? number
    : T extends 'bool'
      ? boolean
      : T extends 'null'
        ? null
        : T extends 'any'
          ? JsonValue
          : T extends { readonly enum: readonly (infer V)[] }
            ? V
            : T extends { readonly struct: infer S; readonly extra: true }
              ? QmpArgsOf<S> & { readonly [member: string]: unknown }
              : T extends { readonly struct: infer S }
                ? QmpArgsOf<S>
                : T extends readonly [infer E]
                  ? QmpValueOf<E>[]
                  : never;

/** The validated arguments of schema `S`. */
export type QmpArgsOf<S> = Simplify<
  {
    readonly [K in keyof S as K extends `*${string}` ? never : K]: QmpValueOf<S[K]>;
  } & {
    readonly [K in keyof S as K extends `*${infer N}` ? N : never]?: QmpValueOf<S[K]>;
  }
>;

function typeError(name: string, expected: string): QmpError {
  return QmpError.generic(`Invalid parameter type for '${name}', expected: ${expected}`);
}

function memberName(prefix: string, member: string): string {
  return prefix === '' ? member : `${prefix}.${member}`;
}

function checkValue(type: QmpType, value: JsonValue, name: string): void {
  if (typeof type === 'string') {
    switch (type) {
      case 'str':
        if (typeof value !== 'string') throw typeError(name, 'string');
        return;
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value)) throw typeError(name, 'integer');
        return;
      case 'number':
        if (typeof value !== 'number') throw typeError(name, 'number');
        return;
      case 'bool':
        if (typeof value !== 'boolean') throw typeError(name, 'boolean');
        return;
      case 'null':
        if (value !== null) throw typeError(name, 'null');
        return;
      case 'any':
        return;
    }
  }
  if (Array.isArray(type)) {
    if (!Array.isArray(value)) throw typeError(name, 'array');
    const element = (type as QmpListType)[0];
    value.forEach((item, i) => checkValue(element, item, `${name}[${i}]`));
    return;
  }
  if ('enum' in type) {
    if (typeof value !== 'string') throw typeError(name, 'string');
    if (!type.enum.includes(value)) {
      throw QmpError.generic(`Parameter '${name}' does not accept value '${value}'`);
    }
    return;
  }
  const struct = type as QmpStructType;
  if (!isJsonObject(value)) throw typeError(name, 'object');
  checkMembers(struct.struct, value, struct.extra === true, name);
}

function checkMembers(schema: QmpArgsSchema, obj: JsonObject, extra: boolean, prefix: string): void {
  const known = new Set<string>();
  for (const [key, type] of Object.entries(schema)) {
    const optional = key.startsWith('*');
    const member = optional ? key.slice(1) : key;
    known.add(member);
    const name = memberName(prefix, member);
    if (!Object.hasOwn(obj, member)) {
      if (!optional) throw QmpError.generic(`Parameter '${name}' is missing`);
      continue;
    }
    checkValue(type, obj[member], name);
  }
  if (extra) return;
  for (const member of Object.keys(obj)) {
    if (!known.has(member)) throw QmpError.generic(`Parameter '${memberName(prefix, member)}' is unexpected`);
  }
}

/**
 * Checks `args` against `schema`; throws the first violation as a GenericError. With `extra`,
 * members the schema does not name are accepted (and returned apart).
 */
export function validateArguments<S extends QmpArgsSchema>(
  schema: S,
  args: JsonObject,
  extra = false,
): { readonly args: QmpArgsOf<S>; readonly rest: JsonObject } {
  checkMembers(schema, args, extra, '');
  const rest: JsonObject = {};
  if (extra) {
    const named = new Set(Object.keys(schema).map((k) => (k.startsWith('*') ? k.slice(1) : k)));
    for (const [k, v] of Object.entries(args)) {
      if (!named.has(k)) defineMember(rest, k, v);
    }
  }
  return { args: args as unknown as QmpArgsOf<S>, rest };
}
