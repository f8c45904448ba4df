/**
 * The byte-level JSON lexer of the QMP input stream (qobject/json-lexer.c): RFC 8259 tokens plus
 * QEMU's single-quoted strings. Input may arrive in arbitrary pieces; a token split across chunks
 * is completed by the next `feed`. After a lexical error the lexer skips input until a likely
 * resynchronisation point (a structural character, a control character other than tab — newline
 * included — or the bytes 0xFE/0xFF), as QEMU's recovery state does.
 */

export const enum TokenType {
  LCurly,
  RCurly,
  LSquare,
  RSquare,
  Colon,
  Comma,
  String,
  Integer,
  Float,
  Keyword,
  /** A lexical error: `bytes` holds the input consumed for the bad token. */
  Error,
  /** A single token grew beyond the size limit; the lexer is recovering. */
  TooLong,
}

export interface Token {
  readonly type: TokenType;
  /** The token's input bytes (strings with their quotes). */
  readonly bytes: Uint8Array;
}

export type TokenSink = (type: TokenType, bytes: Uint8Array) => void;

const enum State {
  Start,
  DqString,
  DqEscape,
  SqString,
  SqEscape,
  NegStart,
  Zero,
  Int,
  FracStart,
  Frac,
  ExpStart,
  ExpSign,
  Exp,
  Keyword,
  Recovery,
}

const DQUOTE = 0x22;
const SQUOTE = 0x27;
const BACKSLASH = 0x5c;

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}

/** The `e`/`E` that starts a number's exponent. */
function isExponentMark(c: number): boolean {
  return c === 0x65 || c === 0x45;
}

function isStructural(c: number): boolean {
  return c === 0x7b || c === 0x7d || c === 0x5b || c === 0x5d || c === 0x3a || c === 0x2c;
}

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
}

/** Bytes QEMU accepts inside strings: no control characters and no 0xFE/0xFF. */
function isStringByte(c: number): boolean {
  return c >= 0x20 && c <= 0xfd;
}

function structuralType(c: number): TokenType {
  switch (c) {
    case 0x7b:
      return TokenType.LCurly;
    case 0x7d:
      return TokenType.RCurly;
    case 0x5b:
      return TokenType.LSquare;
    case 0x5d:
      return TokenType.RSquare;
    case 0x3a:
      return TokenType.Colon;
    default:
      return TokenType.Comma;
  }
}

export class JsonLexer {
  #state = State.Start;
  #buf = new Uint8Array(256);
  #len = 0;
  readonly #sink: TokenSink;
  readonly #maxTokenBytes: number;

  constructor(sink: TokenSink, maxTokenBytes: number) {
    this.#sink = sink;
    this.#maxTokenBytes = maxTokenBytes;
  }

  feed(input: Uint8Array): void {
    for (let i = 0; i < input.length; i++) this.#feedByte(input[i]);
  }

  /** Forgets a partial token (the connection was reset). */
  reset(): void {
    this.#state = State.Start;
    this.#len = 0;
  }

  #append(c: number): void {
    if (this.#len === this.#buf.length) {
      const bigger = new Uint8Array(this.#buf.length * 2);
      bigger.set(this.#buf);
      this.#buf = bigger;
    }
    this.#buf[this.#len++] = c;
  }

  #emit(type: TokenType): void {
    const bytes = this.#buf.slice(0, this.#len);
    this.#len = 0;
    this.#state = State.Start;
    this.#sink(type, bytes);
  }

  /** The byte `c` cannot continue the token: it is part of the bad input, then recovery. */
  #error(c: number): void {
    this.#append(c);
    const bytes = this.#buf.slice(0, this.#len);
    this.#len = 0;
    this.#state = State.Recovery;
    this.#sink(TokenType.Error, bytes);
  }

  #feedByte(c: number): void {
    // A token that ended on lookahead leaves `c` to be lexed from the start state.
    for (;;) {
      switch (this.#state) {
        case State.Start:
          this.#start(c);
          return;
        case State.Recovery:
          if ((c < 0x20 && c !== 0x09) || c >= 0xfe || isStructural(c)) {
            this.#state = State.Start;
            continue;
          }
          return;
        case State.DqString:
        case State.SqString: {
          const quote = this.#state === State.DqString ? DQUOTE : SQUOTE;
          if (c === quote) {
            this.#append(c);
            this.#emit(TokenType.String);
          } else if (c === BACKSLASH) {
            this.#append(c);
            this.#state = this.#state === State.DqString ? State.DqEscape : State.SqEscape;
          } else if (isStringByte(c)) {
            this.#append(c);
            this.#checkLength();
          } else {
            this.#error(c);
          }
          return;
        }
        case State.DqEscape:
        case State.SqEscape:
          if (!isStringByte(c)) {
            this.#error(c);
            return;
          }
          this.#append(c);
          this.#state = this.#state === State.DqEscape ? State.DqString : State.SqString;
          return;
        case State.NegStart:
          if (c === 0x30) this.#next(c, State.Zero);
          else if (isDigit(c)) this.#next(c, State.Int);
          else this.#error(c);
          return;
        case State.Zero:
        case State.Int:
          if (isDigit(c)) {
            // A leading zero cannot be followed by digits (JSON has no octal).
            if (this.#state === State.Zero) this.#error(c);
            else this.#next(c, State.Int);
          } else if (c === 0x2e) this.#next(c, State.FracStart);
          else if (isExponentMark(c)) this.#next(c, State.ExpStart);
          else {
            this.#emit(TokenType.Integer);
            continue;
          }
          return;
        case State.FracStart:
          if (isDigit(c)) this.#next(c, State.Frac);
          else this.#error(c);
          return;
        case State.Frac:
          if (isDigit(c)) this.#next(c, State.Frac);
          else if (isExponentMark(c)) this.#next(c, State.ExpStart);
          else {
            this.#emit(TokenType.Float);
            continue;
          }
          return;
        case State.ExpStart:
          if (c === 0x2b || c === 0x2d) this.#next(c, State.ExpSign);
          else if (isDigit(c)) this.#next(c, State.Exp);
          else this.#error(c);
          return;
        case State.ExpSign:
          if (isDigit(c)) this.#next(c, State.Exp);
          else this.#error(c);
          return;
        case State.Exp:
          if (isDigit(c)) this.#next(c, State.Exp);
          else {
            this.#emit(TokenType.Float);
            continue;
          }
          return;
        case State.Keyword:
          if (c >= 0x61 && c <= 0x7a) this.#next(c, State.Keyword);
          else {
            this.#emit(TokenType.Keyword);
            continue;
          }
          return;
      }
    }
  }

  #next(c: number, state: State): void {
    this.#append(c);
    this.#state = state;
    this.#checkLength();
  }

  #checkLength(): void {
    if (this.#len <= this.#maxTokenBytes) return;
    this.#len = 0;
    this.#state = State.Recovery;
    this.#sink(TokenType.TooLong, new Uint8Array(0));
  }

  #start(c: number): void {
    if (isWhitespace(c)) return;
    if (isStructural(c)) {
      this.#append(c);
      this.#emit(structuralType(c));
    } else if (c === DQUOTE) this.#next(c, State.DqString);
    else if (c === SQUOTE) this.#next(c, State.SqString);
    else if (c === 0x2d) this.#next(c, State.NegStart);
    else if (c === 0x30) this.#next(c, State.Zero);
    else if (isDigit(c)) this.#next(c, State.Int);
    else if (c >= 0x61 && c <= 0x7a) this.#next(c, State.Keyword);
    else this.#error(c);
  }
}
