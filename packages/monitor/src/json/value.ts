/**
 * JSON values as the QMP parser produces them and the writer accepts them. Objects are plain
 * objects whose members were defined (never assigned), so a member named `__proto__` is data.
 */
export type JsonValue = null | boolean | number | string | JsonValue[] | JsonObject;

export interface JsonObject {
  [member: string]: JsonValue;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Adds a member without going through setters (`__proto__` stays an ordinary member). */
export function defineMember(obj: JsonObject, key: string, value: JsonValue): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}
