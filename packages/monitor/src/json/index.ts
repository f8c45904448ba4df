export { type JsonObject, type JsonValue, isJsonObject, defineMember } from './value.js';
export {
  JsonStreamParser,
  DEFAULT_JSON_LIMITS,
  type JsonStreamLimits,
  type JsonStreamResult,
} from './streamer.js';
export { toQmpJson, quoteJsonString } from './writer.js';
