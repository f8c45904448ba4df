/**
 * Serialises replies the way QEMU's qobject_to_json does (compact form): `{"return": {}}`, with
 * ": " and ", " separators, and ASCII-only output (everything else escaped as \uXXXX), since QMP
 * output is ASCII. Members whose value is undefined are left out, so optional fields may simply
 * be absent from the objects commands return.
 */

const HEX = '0123456789ABCDEF';

function u4(code: number): string {
  return `\\u${HEX[(code >> 12) & 15]}${HEX[(code >> 8) & 15]}${HEX[(code >> 4) & 15]}${HEX[code & 15]}`;
}

export function quoteJsonString(s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    switch (c) {
      case 0x22:
        out += '\\"';
        break;
      case 0x5c:
        out += '\\\\';
        break;
      case 0x08:
        out += '\\b';
        break;
      case 0x0c:
        out += '\\f';
        break;
      case 0x0a:
        out += '\\n';
        break;
      case 0x0d:
        out += '\\r';
        break;
      case 0x09:
        out += '\\t';
        break;
      default:
        // UTF-16 code units are what \u escapes carry, so surrogate pairs come out as two escapes.
        out += c >= 0x20 && c < 0x7f ? s[i] : u4(c);
    }
  }
  return out + '"';
}

function write(v: unknown): string | undefined {
  switch (typeof v) {
    case 'string':
      return quoteJsonString(v);
    case 'number':
      return Number.isFinite(v) ? String(v) : 'null';
    case 'bigint':
      return v.toString();
    case 'boolean':
      return v ? 'true' : 'false';
    case 'object': {
      if (v === null) return 'null';
      if (Array.isArray(v)) {
        const items: string[] = [];
        for (const item of v as unknown[]) items.push(write(item) ?? 'null');
        return `[${items.join(', ')}]`;
      }
      const members: string[] = [];
      for (const [key, value] of Object.entries(v)) {
        const text = write(value);
        if (text !== undefined) members.push(`${quoteJsonString(key)}: ${text}`);
      }
      return `{${members.join(', ')}}`;
    }
    default:
      return undefined;
  }
}

/** The QMP text of `value` (no line terminator). */
export function toQmpJson(value: unknown): string {
  return write(value) ?? 'null';
}
