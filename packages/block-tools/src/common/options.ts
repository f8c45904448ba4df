/**
 * QEMU's option-string syntax as used by `--image-opts` and `open -o`
 * (`driver=blkdebug,config=x.conf,image.driver=file,image.filename=x.img`):
 * comma-separated `key=value` pairs, `,,` for a literal comma, dotted keys for nested options
 * (qemu_opts_parse + qdict_crumple), and numbered keys for lists (`inject-error.0.event=...`).
 */
import { ConfigError } from '@vmkit/core';

/** A nested option value: strings from the command line, objects and lists made of dotted keys. */
export type OptionValue = string | boolean | number | OptionTree | OptionValue[] | null;
export interface OptionTree {
  [key: string]: OptionValue;
}

/**
 * Splits `a=b,c.d=e` into ordered pairs. `,,` is a comma inside a value. An element without `=`
 * is the value of `impliedKey` when it comes first (QemuOptsList.implied_opt_name), else `key=on`.
 */
export function splitOptions(text: string, impliedKey?: string): Array<[string, string]> {
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === ',') {
      if (text[i + 1] === ',') {
        cur += ',';
        i++;
        continue;
      }
      parts.push(cur);
      cur = '';
    } else cur += c;
  }
  parts.push(cur);
  const out: Array<[string, string]> = [];
  parts.forEach((p, i) => {
    if (p === '' && parts.length > 1 && i === parts.length - 1) return; // trailing comma
    const eq = p.indexOf('=');
    if (eq < 0) {
      if (i === 0 && impliedKey !== undefined) out.push([impliedKey, p]);
      else if (p === '') throw new ConfigError(`Invalid parameter ''`);
      else out.push([p, 'on']);
      return;
    }
    const key = p.slice(0, eq);
    if (key === '') throw new ConfigError(`Invalid parameter ''`);
    out.push([key, p.slice(eq + 1)]);
  });
  return out;
}

function isTree(v: OptionValue | undefined): v is OptionTree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Turns objects whose keys are exactly 0..n-1 into lists (qdict_crumple). */
function listify(v: OptionValue): OptionValue {
  if (!isTree(v)) return v;
  const keys = Object.keys(v);
  for (const k of keys) v[k] = listify(v[k]);
  if (keys.length > 0 && keys.every((k) => /^(0|[1-9][0-9]*)$/.test(k))) {
    const n = keys.length;
    if (keys.every((k) => Number(k) < n)) {
      const list: OptionValue[] = [];
      for (let i = 0; i < n; i++) list.push(v[String(i)]);
      return list;
    }
  }
  return v;
}

/** Builds a nested tree from dotted keys; a later value for the same key wins (like QemuOpts). */
export function crumple(pairs: ReadonlyArray<readonly [string, OptionValue]>): OptionTree {
  const root: OptionTree = {};
  for (const [key, value] of pairs) {
    const path = key.split('.');
    if (path.some((p) => p === '')) throw new ConfigError(`Invalid parameter '${key}'`);
    let node = root;
    for (let i = 0; i < path.length - 1; i++) {
      const next = node[path[i]];
      if (next === undefined) node = node[path[i]] = {};
      else if (isTree(next)) node = next;
      else
        throw new ConfigError(
          `Parameter '${path.slice(0, i + 1).join('.')}' is both a value and a set of options`,
        );
    }
    const leaf = path[path.length - 1];
    if (isTree(node[leaf]) && !isTree(value)) {
      throw new ConfigError(`Parameter '${key}' is both a value and a set of options`);
    }
    node[leaf] = value;
  }
  return listify(root) as OptionTree;
}

/** Parses an option string into a nested tree. */
export function parseOptionString(text: string, impliedKey?: string): OptionTree {
  return crumple(splitOptions(text, impliedKey));
}

/** Generic block options whose values are booleans in blockdev-add (strings on the command line). */
const BOOLEAN_KEYS = new Set(['read-only', 'auto-read-only', 'force-share', 'direct', 'no-flush']);

function toBoolean(key: string, v: OptionValue): OptionValue {
  if (typeof v !== 'string') return v;
  if (v === 'on' || v === 'yes' || v === 'true') return true;
  if (v === 'off' || v === 'no' || v === 'false') return false;
  throw new ConfigError(`Parameter '${key}' expects 'on' or 'off'`);
}

/** Converts the command-line strings of the generic boolean keys, at every level of the tree. */
export function normaliseBlockdevTree(tree: OptionTree): OptionTree {
  for (const [k, v] of Object.entries(tree)) {
    if (BOOLEAN_KEYS.has(k)) tree[k] = toBoolean(k, v);
    else if (isTree(v)) normaliseBlockdevTree(v);
    else if (Array.isArray(v)) for (const e of v) if (isTree(e)) normaliseBlockdevTree(e);
  }
  return tree;
}

/** Fills `target` with the keys of `extra` it does not have yet (recursively for sub-trees). */
export function mergeMissing(target: OptionTree, extra: OptionTree): OptionTree {
  for (const [k, v] of Object.entries(extra)) {
    const cur = target[k];
    if (cur === undefined) target[k] = v;
    else if (isTree(cur) && isTree(v)) mergeMissing(cur, v);
  }
  return target;
}

export { isTree as isOptionTree };
