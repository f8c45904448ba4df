import { expect } from 'chai';
import fc from 'fast-check';
import { JsonStreamParser, toQmpJson, type JsonStreamResult } from '../src/index.js';

function parseAll(chunks: readonly (string | Uint8Array)[], limits = {}): JsonStreamResult[] {
  const out: JsonStreamResult[] = [];
  const p = new JsonStreamParser((r) => out.push(r), limits);
  for (const c of chunks) p.feed(c);
  return out;
}

const ok = (value: unknown): JsonStreamResult => ({ ok: true, value }) as JsonStreamResult;
const err = (error: string): JsonStreamResult => ({ ok: false, error });

describe('JSON stream parser (json-lexer.c / json-streamer.c / json-parser.c)', () => {
  it('parses several concatenated objects in one chunk, with or without separators', () => {
    expect(parseAll(['{"a": 1}{"b": [true, false, null]} {"c": "x"}\n'])).to.deep.equal([
      ok({ a: 1 }),
      ok({ b: [true, false, null] }),
      ok({ c: 'x' }),
    ]);
  });

  it('completes an object split at every byte boundary', () => {
    const text = '{"execute": "query-status", "arguments": {"n": -12.5e2, "s": "\\u00e9\\"x"}, "id": [1]}';
    for (let cut = 0; cut <= text.length; cut++) {
      expect(parseAll([text.slice(0, cut), text.slice(cut)]), `cut at ${cut}`).to.deep.equal([
        ok({ execute: 'query-status', arguments: { n: -1250, s: 'é"x' }, id: [1] }),
      ]);
    }
  });

  it('completes a UTF-8 character split between chunks', () => {
    const bytes = new TextEncoder().encode('{"k": "€uro"}');
    expect(parseAll([bytes.subarray(0, 8), bytes.subarray(8)])).to.deep.equal([ok({ k: '€uro' })]);
  });

  it("accepts QEMU single-quoted strings and the \\' escape", () => {
    expect(parseAll([`{'execute': 'it\\'s', "q": '"'}`])).to.deep.equal([ok({ execute: "it's", q: '"' })]);
  });

  it('numbers end on lookahead even across chunks; a top-level scalar is a value', () => {
    expect(parseAll(['[12', '34, 0.5, 1E', '3]'])).to.deep.equal([ok([1234, 0.5, 1000])]);
    expect(parseAll(['42 '])).to.deep.equal([ok(42)]);
  });

  it('reports QEMU parse errors: expecting value, invalid keyword, duplicate key, separators', () => {
    expect(parseAll(['{ "execute": }'])).to.deep.equal([err('JSON parse error, expecting value')]);
    expect(parseAll(['{"a": nul}'])).to.deep.equal([err("JSON parse error, invalid keyword 'nul'")]);
    expect(parseAll(['{"a": 1, "a": 2}'])).to.deep.equal([err('JSON parse error, duplicate key')]);
    expect(parseAll(['{"a" 1}'])).to.deep.equal([err('JSON parse error, missing : in object pair')]);
    expect(parseAll(['{"a": 1 "b": 2}'])).to.deep.equal([
      err('JSON parse error, expected separator in dict'),
    ]);
    expect(parseAll(['[1 2]'])).to.deep.equal([err('JSON parse error, expected separator in list')]);
    expect(parseAll(['{1: 2}'])).to.deep.equal([err('JSON parse error, key is not a string in object')]);
    expect(parseAll(['"\\q"'])).to.deep.equal([err('JSON parse error, invalid escape sequence in string')]);
    expect(parseAll(['"\\ud800x"'])).to.deep.equal([
      err('JSON parse error, \\ud800 is not a valid Unicode character'),
    ]);
    expect(parseAll([new Uint8Array([0x22, 0xc3, 0x28, 0x22])])).to.deep.equal([
      err('JSON parse error, invalid UTF-8 sequence in string'),
    ]);
  });

  it('a stray closing brace is an error of its own, then parsing goes on', () => {
    expect(parseAll(['{"a": 1}}{"b": 2}'])).to.deep.equal([
      ok({ a: 1 }),
      err('JSON parse error, expecting value'),
      ok({ b: 2 }),
    ]);
  });

  it('a lexical error drops the partial value and recovers at the next structural or control character', () => {
    expect(parseAll(['{"execute": @garbage here\n{"execute": "cont"}'])).to.deep.equal([
      err("JSON parse error, stray '@'"),
      ok({ execute: 'cont' }),
    ]);
    // A control character inside a string is a lexical error; 0xFF forces a resynchronisation.
    expect(
      parseAll([new Uint8Array([0x7b, 0x22, 0x01]), new Uint8Array([0x61, 0xff]), '{"x": 1}']),
    ).to.deep.equal([
      err("JSON parse error, stray '\"\u0001'"),
      err("JSON parse error, stray '\u00ff'"),
      ok({ x: 1 }),
    ]);
  });

  it('limits: nesting depth and token size, each reported once as QEMU words it', () => {
    const deep = '['.repeat(5) + ']'.repeat(5);
    expect(parseAll([deep], { maxNesting: 4 })[0]).to.deep.equal(err('JSON nesting depth limit exceeded'));
    expect(parseAll([`"${'x'.repeat(100)}" {"a": 1}`], { maxBytes: 64 })).to.deep.equal([
      err('JSON token size limit exceeded'),
      ok({ a: 1 }),
    ]);
  });

  it('a member named __proto__ is data, not a prototype', () => {
    const [r] = parseAll(['{"__proto__": {"polluted": true}}']);
    expect(r.ok).to.equal(true);
    const v = (r as { value: Record<string, unknown> }).value;
    expect(Object.getPrototypeOf(v)).to.equal(Object.prototype);
    expect(Object.keys(v)).to.deep.equal(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).to.equal(undefined);
  });

  it('property: any JSON document, cut into any chunks, parses to what JSON.parse gives', () => {
    fc.assert(
      fc.property(fc.json(), fc.array(fc.nat(), { maxLength: 4 }), (text, cuts) => {
        const points = [...new Set(cuts.map((c) => c % (text.length + 1)))].sort((a, b) => a - b);
        const chunks: string[] = [];
        let at = 0;
        for (const p of points) {
          chunks.push(text.slice(at, p));
          at = p;
        }
        chunks.push(text.slice(at), ' ');
        const expected = JSON.parse(text) as unknown;
        expect(parseAll(chunks)).to.deep.equal([ok(expected)]);
      }),
    );
  });
});

describe('QMP JSON writer (qobject_to_json)', () => {
  it('writes QEMU compact form, ASCII only, leaving out undefined members', () => {
    expect(toQmpJson({ return: {}, id: 1 })).to.equal('{"return": {}, "id": 1}');
    expect(toQmpJson({ a: [1, 'é\n', null, true], b: undefined, c: -0.5 })).to.equal(
      '{"a": [1, "\\u00E9\\n", null, true], "c": -0.5}',
    );
    expect(toQmpJson('😀')).to.equal('"\\uD83D\\uDE00"');
    expect(JSON.parse(toQmpJson({ s: '\u0001"\\' }))).to.deep.equal({ s: '\u0001"\\' });
  });
});
