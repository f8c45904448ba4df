/**
 * Configuration problems with the JSON path they are about: `devices[1].iothread: no object 'io9'`.
 * Validation collects every problem it finds before anything is created, so a user fixes a config
 * in one pass; building reports the first failure the same way.
 */

/** One problem: where (a JSON path, `''` for the whole document) and the rule broken. */
export interface ConfigIssue {
  readonly path: string;
  readonly message: string;
}

/** `devices[1].iothread: no object 'io9'`. */
export function formatIssue(issue: ConfigIssue): string {
  return issue.path === '' ? issue.message : `${issue.path}: ${issue.message}`;
}

/** Thrown when a configuration cannot be used; carries every problem found. */
export class ConfigIssues extends Error {
  constructor(readonly issues: readonly ConfigIssue[]) {
    super(issues.map(formatIssue).join('\n'));
    this.name = 'ConfigIssues';
  }
}

/** Paths like `devices[1].iothread`: `.key` for members, `[i]` for list entries. */
export function childPath(parent: string, key: string | number): string {
  if (typeof key === 'number') return `${parent}[${key}]`;
  return parent === '' ? key : `${parent}.${key}`;
}

/** Collects issues while walking a document. */
export class IssueList {
  readonly issues: ConfigIssue[] = [];

  add(path: string, message: string): void {
    this.issues.push({ path, message });
  }

  get ok(): boolean {
    return this.issues.length === 0;
  }

  /** Throws ConfigIssues when anything was collected. */
  throwIfAny(): void {
    if (this.issues.length > 0) throw new ConfigIssues(this.issues);
  }
}

/** A JSON object (not an array, not null). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** How a JSON value is named in messages (`expected a string, got a number`). */
export function jsonType(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'a list';
  switch (typeof v) {
    case 'object':
      return 'an object';
    case 'string':
      return 'a string';
    case 'number':
      return 'a number';
    case 'boolean':
      return 'a boolean';
    default:
      return typeof v;
  }
}

/** A value as quoted in messages: strings in single quotes, the rest as JSON. */
export function quote(v: unknown): string {
  return typeof v === 'string' ? `'${v}'` : JSON.stringify(v);
}
