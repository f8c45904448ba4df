/**
 * `vmkit run [CONFIG] [--qmp unix:PATH] [--output=human|json] [--runtime=DURATION]`.
 * Option errors read `vmkit run: --output: 'xml': must be one of human, json`.
 */
import { parseArgs } from 'node:util';
import { parseDurationNs, parseEnum } from '../config/values.js';

export type OutputFormat = 'human' | 'json';

export interface RunArgs {
  /** The config file; undefined: the embedded default. */
  readonly config: string | undefined;
  /** Unix socket path for QMP. */
  readonly qmp: string | undefined;
  readonly output: OutputFormat;
  /** Overrides every job's runtime (ns). */
  readonly runtimeNs: number | undefined;
  readonly help: boolean;
}

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const RUN_USAGE = `usage: vmkit run [CONFIG] [--qmp unix:PATH] [--output=human|json] [--runtime=DURATION]

Builds a machine from CONFIG (JSON: objects, blockdevs, devices, workload; see the @vmkit/cli
README) and runs its workload through the guest drivers of each device. Without CONFIG it runs
the embedded default: a virtio-blk and a xen-block disk over a temporary 256 MiB image, in one
throttle group, with a 10-second randrw crc32c-verified job on each.

  --qmp unix:PATH     serve QMP on a unix socket while the machine runs
  --output=FORMAT     human (default) or json: the summary as one JSON object
  --runtime=DURATION  run every job for DURATION (seconds, or 500ms, 2m, ...)
  -h, --help          this help

Exit status: 0 when every job ended without I/O or verification errors, 1 on errors (a config
error is reported with its JSON path before anything starts), 130 when interrupted (Ctrl-C).
`;

/** Parses the arguments after `run`. */
export function parseRunArgs(args: readonly string[]): RunArgs {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...args],
      allowPositionals: true,
      strict: true,
      options: {
        qmp: { type: 'string' },
        output: { type: 'string', short: 'o' },
        runtime: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (e) {
    throw new UsageError(e instanceof Error ? e.message : String(e));
  }
  const { values, positionals } = parsed;
  if (positionals.length > 1) throw new UsageError(`too many arguments: ${positionals.slice(1).join(' ')}`);
  let output: OutputFormat = 'human';
  if (values.output !== undefined) {
    const o = parseEnum(values.output, ['human', 'json'] as const);
    if (!o.ok) throw new UsageError(`--output: ${o.rule}`);
    output = o.value;
  }
  let runtimeNs: number | undefined;
  if (values.runtime !== undefined) {
    const r = parseDurationNs(values.runtime);
    if (!r.ok) throw new UsageError(`--runtime: ${r.rule}`);
    runtimeNs = r.value;
  }
  let qmp: string | undefined;
  if (values.qmp !== undefined) qmp = parseQmpAddress(values.qmp);
  return { config: positionals[0], qmp, output, runtimeNs, help: values.help === true };
}

/** `unix:PATH` (QEMU's `-qmp unix:PATH,server=on,wait=off`; those two options are implied). */
export function parseQmpAddress(text: string): string {
  const m = /^unix:([^,]+)((?:,(?:server|wait)(?:=(?:on|off))?)*)$/.exec(text);
  if (m === null) throw new UsageError(`--qmp: '${text}': expected unix:PATH`);
  return m[1];
}
