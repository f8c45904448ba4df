#!/usr/bin/env node
/**
 * The `vmkit` binary: real standard streams, Ctrl-C (SIGINT, and SIGTERM) turned into the run's
 * abort signal — a second one exits at once — and the exit status. Unexpected exceptions are
 * reported in one line (the stack with VMKIT_DEBUG set).
 */
import { vmkitMain } from '../cli/main.js';

const interrupt = new AbortController();
const onSignal = (): void => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort();
};
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

vmkitMain(process.argv.slice(2), {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
  stdoutIsTTY: process.stdout.isTTY === true,
  signal: interrupt.signal,
}).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`vmkit: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.VMKIT_DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : ''}\n`);
    process.exit(1);
  },
);
