/**
 * Parses the tokens of one top-level JSON value (qobject/json-parser.c), with QEMU's error
 * texts: "JSON parse error, expecting value", "... invalid keyword 'foo'", "... duplicate key".
 * The first error found wins, as in QEMU.
 */
import { TokenType, type Token } from './lexer.js';
import { defineMember, type JsonObject, type JsonValue } from './value.js';

export type ParseResult =
  { readonly ok: true; readonly value: JsonValue } | { readonly ok: false; readonly error: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

/** Token text for messages (bytes outside ASCII shown as Latin-1, never throwing). */
export function tokenText(bytes: Uint8Array): string {
  return latin1.decode(bytes);
}

/** Unwinds the recursive descent to parseTokens (never escapes this module). */
class ParseError extends Error {}

class Parser {
  #pos = 0;
  constructor(private readonly tokens: readonly Token[]) {}

  fail(message: string): never {
    throw new ParseError(message);
  }

  peek(): Token | undefined {
    return this.tokens[this.#pos];
  }

  pop(): Token {
    const t = this.tokens[this.#pos++];
    if (t === undefined) this.fail('premature EOI');
    return t;
  }

  value(): JsonValue {
    const t = this.peek();
    if (t === undefined) this.fail('premature EOI');
    switch (t.type) {
      case TokenType.LCurly:
        return this.object();
      case TokenType.LSquare:
        return this.array();
      case TokenType.String:
        this.#pos++;
        return parseString(t.bytes, (m) => this.fail(m));
      case TokenType.Integer:
      case TokenType.Float:
        this.#pos++;
        return Number(tokenText(t.bytes));
      case TokenType.Keyword:
        this.#pos++;
        return keyword(tokenText(t.bytes), (m) => this.fail(m));
      default:
        return this.fail('expecting value');
    }
  }

  object(): JsonObject {
    this.pop();
    const obj: JsonObject = {};
    const first = this.peek();
    if (first === undefined) this.fail('premature EOI');
    if (first.type === TokenType.RCurly) {
      this.pop();
      return obj;
    }
    for (;;) {
      this.pair(obj);
      const t = this.pop();
      if (t.type === TokenType.RCurly) return obj;
      if (t.type !== TokenType.Comma) this.fail('expected separator in dict');
    }
  }

  pair(obj: JsonObject): void {
    if (this.peek() === undefined) this.fail('premature EOI');
    const key = this.value();
    if (typeof key !== 'string') this.fail('key is not a string in object');
    if (this.pop().type !== TokenType.Colon) this.fail('missing : in object pair');
    const value = this.value();
    if (Object.hasOwn(obj, key)) this.fail('duplicate key');
    defineMember(obj, key, value);
  }

  array(): JsonValue[] {
    this.pop();
    const list: JsonValue[] = [];
    const first = this.peek();
    if (first === undefined) this.fail('premature EOI');
    if (first.type === TokenType.RSquare) {
      this.pop();
      return list;
    }
    for (;;) {
      list.push(this.value());
      const t = this.pop();
      if (t.type === TokenType.RSquare) return list;
      if (t.type !== TokenType.Comma) this.fail('expected separator in list');
    }
  }
}

function keyword(word: string, fail: (m: string) => never): JsonValue {
  if (word === 'true') return true;
  if (word === 'false') return false;
  if (word === 'null') return null;
  return fail(`invalid keyword '${word}'`);
}

function hex4(s: string, at: number): number {
  if (at + 4 > s.length) return -1;
  let cp = 0;
  for (let i = at; i < at + 4; i++) {
    const d = parseInt(s[i], 16);
    if (Number.isNaN(d)) return -1;
    cp = (cp << 4) | d;
  }
  return cp;
}

/** A string token (quotes included): escapes resolved, UTF-8 checked. */
function parseString(bytes: Uint8Array, fail: (m: string) => never): string {
  let raw: string;
  try {
    raw = utf8.decode(bytes.subarray(1, bytes.length - 1));
  } catch {
    return fail('invalid UTF-8 sequence in string');
  }
  if (!raw.includes('\\')) return raw;
  let out = '';
  let i = 0;
  while (i < raw.length) {
    const ch = raw[i];
    if (ch !== '\\') {
      out += ch;
      i++;
      continue;
    }
    const begin = i;
    const esc = raw[i + 1];
    i += 2;
    switch (esc) {
      case '"':
      case "'":
      case '\\':
      case '/':
        out += esc;
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'u': {
        let cp = hex4(raw, i);
        i += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && raw[i] === '\\' && raw[i + 1] === 'u') {
          const low = hex4(raw, i + 2);
          if (low >= 0xdc00 && low <= 0xdfff) {
            cp = 0x10000 + ((cp & 0x3ff) << 10) + (low & 0x3ff);
            i += 6;
          } else {
            cp = -1;
          }
        }
        if (cp < 0 || (cp >= 0xd800 && cp <= 0xdfff)) {
          fail(`${raw.slice(begin, Math.min(i, raw.length))} is not a valid Unicode character`);
        }
        out += String.fromCodePoint(cp);
        break;
      }
      default:
        fail('invalid escape sequence in string');
    }
  }
  return out;
}

/** json_parser_parse: the value of `tokens`, or the first error ("JSON parse error, ..."). */
export function parseTokens(tokens: readonly Token[]): ParseResult {
  try {
    return { ok: true, value: new Parser(tokens).value() };
  } catch (e) {
    if (e instanceof ParseError) return { ok: false, error: `JSON parse error, ${e.message}` };
    throw e;
  }
}
