/**
 * `-T PATTERN`: prints vmkit trace events (node:diagnostics_channel channels `vmkit:<area>:<event>`)
 * on standard error. A pattern is a channel name with or without the `vmkit:` prefix, or a glob
 * (`blkdebug:*`, `*`) matched against the events vmkit is known to publish; several patterns may be
 * given, separated by commas or with several -T.
 */
import diagnostics_channel from 'node:diagnostics_channel';
import { inspect } from 'node:util';

/** The trace events published by vmkit's packages (what a glob can match). */
export const KNOWN_TRACE_EVENTS: readonly string[] = [
  'blkdebug:inject',
  'blkdebug:resume',
  'blkdebug:suspend',
  'block:aio-exception',
  'memory:region-add',
  'memory:region-del',
  'virtio:device-error',
  'virtio:mmio-bad-access',
  'virtio:queue-error',
  'virtio:set-status',
  'xen-bus:error',
  'xen-device:backend-state',
  'xen-device:error',
  'xen-device:frontend-state',
];

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

/** The channel names (`vmkit:area:event`) a list of patterns selects. */
export function traceChannelNames(patterns: readonly string[]): string[] {
  const names = new Set<string>();
  for (const raw of patterns.flatMap((p) => p.split(','))) {
    const p = raw.trim().replace(/^vmkit:/, '');
    if (p === '') continue;
    if (/[*?]/.test(p)) {
      const re = globToRegExp(p);
      for (const e of KNOWN_TRACE_EVENTS) if (re.test(e)) names.add(`vmkit:${e}`);
    } else names.add(`vmkit:${p}`);
  }
  return [...names].sort();
}

/** Subscribes a printer to each channel; returns the function that unsubscribes them. */
export function subscribeTrace(names: readonly string[], print: (line: string) => void): () => void {
  const subs: Array<[string, (message: unknown, name: string | symbol) => void]> = [];
  for (const name of names) {
    const fn = (message: unknown): void =>
      print(`${name} ${inspect(message, { breakLength: Infinity, depth: 3, compact: true })}`);
    diagnostics_channel.subscribe(name, fn);
    subs.push([name, fn]);
  }
  return () => {
    for (const [name, fn] of subs) diagnostics_channel.unsubscribe(name, fn);
  };
}
