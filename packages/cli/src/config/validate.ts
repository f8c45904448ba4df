/**
 * The whole config: JSON text → RunConfig, or ConfigIssues listing every problem with its JSON
 * path. Sections: `objects`, `blockdevs`, `devices` (created in this order) and `workload`.
 */
import { ConfigIssues, IssueList, isObject, jsonType } from './issues.js';
import { findJsonSyntaxError } from './json-position.js';
import type { RunConfig } from './types.js';
import {
  validateBlockdevs,
  validateDevices,
  validateObjects,
  type MachineSchema,
} from './validate-machine.js';
import { validateWorkload } from './validate-workload.js';

export const CONFIG_SECTIONS = ['objects', 'blockdevs', 'devices', 'workload'] as const;

/** Parses JSON text; a syntax error becomes an issue with the line and column. */
export function parseConfigJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    const at = findJsonSyntaxError(text);
    const message =
      at !== undefined
        ? `${at.message} (line ${at.line}, column ${at.column})`
        : e instanceof Error
          ? e.message
          : String(e);
    throw new ConfigIssues([{ path: '', message: `invalid JSON: ${message}` }]);
  }
}

/** Validates a parsed config document; throws ConfigIssues with every problem found. */
export function validateConfig(doc: unknown, schema: MachineSchema): RunConfig {
  const issues = new IssueList();
  if (!isObject(doc)) {
    issues.add('', `the config must be a JSON object, got ${jsonType(doc)}`);
    issues.throwIfAny();
  }
  const root = doc as Record<string, unknown>;
  for (const key of Object.keys(root)) {
    if (!(CONFIG_SECTIONS as readonly string[]).includes(key)) {
      issues.add(key, `unknown section (known: ${CONFIG_SECTIONS.join(', ')})`);
    }
  }
  const objects = validateObjects(issues, schema, root.objects);
  const blockdevs = validateBlockdevs(issues, schema, root.blockdevs);
  const devices = validateDevices(issues, schema, root.devices, objects, blockdevs);
  const jobs = validateWorkload(issues, root.workload, devices);
  issues.throwIfAny();
  return { objects, blockdevs, devices, jobs };
}
