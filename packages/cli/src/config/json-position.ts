/**
 * Where a JSON text stops being valid: a small recursive-descent scanner run only after
 * JSON.parse failed (Node's messages do not always give a position), so a config error can say
 * `invalid JSON: unexpected ',' (line 2, column 15)`.
 */

export interface JsonSyntaxError {
  readonly message: string;
  readonly line: number;
  readonly column: number;
}

class Stop extends Error {
  constructor(
    readonly at: number,
    readonly what: string,
  ) {
    super(what);
  }
}

/** The first syntax error of `text`, or undefined when it is valid JSON. */
export function findJsonSyntaxError(text: string): JsonSyntaxError | undefined {
  let i = 0;
  const ws = (): void => {
    while (i < text.length && ' \t\n\r'.includes(text[i])) i++;
  };
  const unexpected = (): never => {
    throw new Stop(i, i < text.length ? `unexpected ${JSON.stringify(text[i])}` : 'unexpected end of input');
  };
  const literal = (word: string): void => {
    if (text.startsWith(word, i)) i += word.length;
    else unexpected();
  };
  const string = (): void => {
    i++; // opening quote
    for (;;) {
      if (i >= text.length) unexpected();
      const c = text[i];
      if (c === '"') {
        i++;
        return;
      }
      if (c < ' ') unexpected();
      if (c === '\\') {
        i++;
        if (text[i] === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 1, i + 5))) unexpected();
          i += 5;
        } else if (i < text.length && '"\\/bfnrt'.includes(text[i])) i++;
        else unexpected();
      } else i++;
    }
  };
  const number = (): void => {
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i));
    if (m === null) unexpected();
    i += m![0].length;
  };
  const value = (): void => {
    ws();
    const c = text[i];
    if (c === '{') {
      i++;
      ws();
      if (text[i] === '}') return void i++;
      for (;;) {
        ws();
        if (text[i] !== '"') unexpected();
        string();
        ws();
        if (text[i] !== ':') unexpected();
        i++;
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === '}') return void i++;
        else unexpected();
      }
    }
    if (c === '[') {
      i++;
      ws();
      if (text[i] === ']') return void i++;
      for (;;) {
        value();
        ws();
        if (text[i] === ',') i++;
        else if (text[i] === ']') return void i++;
        else unexpected();
      }
    }
    if (c === '"') return string();
    if (c === 't') return literal('true');
    if (c === 'f') return literal('false');
    if (c === 'n') return literal('null');
    if (c === '-' || (c >= '0' && c <= '9')) return number();
    unexpected();
  };
  try {
    value();
    ws();
    if (i < text.length) unexpected();
    return undefined;
  } catch (e) {
    if (!(e instanceof Stop)) throw e;
    const before = text.slice(0, e.at);
    const line = before.split('\n').length;
    return { message: e.what, line, column: e.at - before.lastIndexOf('\n') };
  }
}
