/** Runs a compiled example in a child Node process and collects what it printed. */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface ExampleRun {
  /** Exit status (null if killed by a signal). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout split into lines, without the final empty one. */
  readonly lines: readonly string[];
}

/** Runs `examples/dist/<path>` (e.g. `compose-machine.js`) with the current Node binary. */
export function runExample(path: string, timeoutMs = 45_000): Promise<ExampleRun> {
  const file = fileURLToPath(new URL(`../../${path}`, import.meta.url));
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--enable-source-maps', file],
      { timeout: timeoutMs, encoding: 'utf8' },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({
          code,
          stdout,
          stderr,
          lines: stdout.split('\n').filter((l, i, a) => i < a.length - 1 || l !== ''),
        });
      },
    );
  });
}

/** Where the repository's files are, from examples/dist/test/helpers. */
export function repoPath(relative: string): string {
  return fileURLToPath(new URL(`../../../../${relative}`, import.meta.url));
}
