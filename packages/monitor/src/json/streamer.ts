/**
 * The JSON message stream of a QMP connection (qobject/json-streamer.c): a lexer fed with bytes as
 * they arrive, grouping tokens into top-level values by counting braces and brackets. Each value,
 * or each error, is handed to the callback exactly once; after an error the stream goes on with
 * the following input, so one malformed request never wedges the connection.
 */
import { JsonLexer, TokenType, type Token } from './lexer.js';
import { parseTokens, tokenText } from './parser.js';
import type { JsonValue } from './value.js';

export type JsonStreamResult =
  { readonly ok: true; readonly value: JsonValue } | { readonly ok: false; readonly error: string };

export interface JsonStreamLimits {
  /** Bytes of all tokens of one value (QEMU: 64 MiB). */
  readonly maxBytes?: number;
  /** Tokens of one value (QEMU: 2 Mi). */
  readonly maxTokens?: number;
  /** Open braces plus brackets (QEMU: 1024). */
  readonly maxNesting?: number;
}

export const DEFAULT_JSON_LIMITS: Required<JsonStreamLimits> = {
  maxBytes: 64 << 20,
  maxTokens: 2 << 20,
  maxNesting: 1 << 10,
};

const encoder = new TextEncoder();

export class JsonStreamParser {
  readonly #lexer: JsonLexer;
  readonly #limits: Required<JsonStreamLimits>;
  readonly #emit: (result: JsonStreamResult) => void;
  #tokens: Token[] = [];
  #bytes = 0;
  #braces = 0;
  #brackets = 0;

  constructor(emit: (result: JsonStreamResult) => void, limits: JsonStreamLimits = {}) {
    this.#emit = emit;
    this.#limits = { ...DEFAULT_JSON_LIMITS, ...limits };
    this.#lexer = new JsonLexer((type, bytes) => this.#token(type, bytes), this.#limits.maxBytes);
  }

  /** Feeds bytes (or a string, encoded as UTF-8); values complete in it are emitted synchronously. */
  feed(input: Uint8Array | string): void {
    this.#lexer.feed(typeof input === 'string' ? encoder.encode(input) : input);
  }

  /** Drops any partial value (connection closed). */
  reset(): void {
    this.#lexer.reset();
    this.#clear();
  }

  #clear(): void {
    this.#tokens = [];
    this.#bytes = 0;
    this.#braces = 0;
    this.#brackets = 0;
  }

  #fail(error: string): void {
    this.#clear();
    this.#emit({ ok: false, error });
  }

  #token(type: TokenType, bytes: Uint8Array): void {
    switch (type) {
      case TokenType.LCurly:
        this.#braces++;
        break;
      case TokenType.RCurly:
        this.#braces--;
        break;
      case TokenType.LSquare:
        this.#brackets++;
        break;
      case TokenType.RSquare:
        this.#brackets--;
        break;
      case TokenType.Error:
        return this.#fail(`JSON parse error, stray '${tokenText(bytes)}'`);
      case TokenType.TooLong:
        return this.#fail('JSON token size limit exceeded');
      default:
        break;
    }
    if (this.#bytes + bytes.length + 1 > this.#limits.maxBytes) {
      return this.#fail('JSON token size limit exceeded');
    }
    if (this.#tokens.length + 1 > this.#limits.maxTokens) {
      return this.#fail('JSON token count limit exceeded');
    }
    if (this.#braces + this.#brackets > this.#limits.maxNesting) {
      return this.#fail('JSON nesting depth limit exceeded');
    }
    this.#tokens.push({ type, bytes });
    this.#bytes += bytes.length;
    if ((this.#braces > 0 || this.#brackets > 0) && this.#braces >= 0 && this.#brackets >= 0) return;
    const tokens = this.#tokens;
    this.#clear();
    this.#emit(parseTokens(tokens));
  }
}
