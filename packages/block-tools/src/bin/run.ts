/**
 * Process glue for the tool binaries: real standard streams, the exit status, and a diagnosis
 * instead of a silent exit when a command waits for something that can no longer happen (the
 * event loop ran dry while the tool was still running, e.g. `wait_break` on a breakpoint no
 * request will reach). Unexpected exceptions are reported in one line, never as a stack trace.
 */
import type { ToolStdio } from '../io/main.js';

export type ToolMain = (args: readonly string[], stdio: ToolStdio) => Promise<number>;

export function runTool(prog: string, main: ToolMain): void {
  let finished = false;
  process.on('beforeExit', () => {
    if (finished) return;
    process.stderr.write(`${prog}: nothing left that could complete the current command (deadlock)\n`);
    process.exit(1);
  });
  const stdio: ToolStdio = {
    stdout: (t) => void process.stdout.write(t),
    stderr: (t) => void process.stderr.write(t),
    stdin: process.stdin,
    stdinTerminal: process.stdout,
  };
  main(process.argv.slice(2), stdio).then(
    (code) => {
      finished = true;
      process.exit(code);
    },
    (e: unknown) => {
      finished = true;
      process.stderr.write(`${prog}: internal error: ${e instanceof Error ? e.message : String(e)}\n`);
      if (process.env.VMKIT_DEBUG) process.stderr.write(`${e instanceof Error ? e.stack : ''}\n`);
      process.exit(1);
    },
  );
}
