/** The daemon binary as a child process: started, waited for (its --pidfile), signalled, reaped. */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { DAEMON_BIN } from './daemon-rig.js';

export interface DaemonExit {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class SpawnedDaemon {
  private out = '';
  private err = '';
  readonly exited: Promise<DaemonExit>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8').on('data', (t: string) => (this.out += t));
    child.stderr!.setEncoding('utf8').on('data', (t: string) => (this.err += t));
    this.exited = new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => resolve({ code, signal, stdout: this.out, stderr: this.err }));
    });
  }

  /** Runs the binary with `args` (no waiting). */
  static spawn(args: readonly string[]): SpawnedDaemon {
    return new SpawnedDaemon(
      spawn(process.execPath, [DAEMON_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] }),
    );
  }

  /** Runs the binary to completion (for command lines it refuses). */
  static run(args: readonly string[]): Promise<DaemonExit> {
    return SpawnedDaemon.spawn(args).exited;
  }

  get stderr(): string {
    return this.err;
  }

  /**
   * Resolves once `pidfile` exists (the daemon writes it when every export listens); rejects if
   * the daemon exits first. Event-driven: a watch on the directory, no polling.
   */
  ready(pidfile: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const watcher = watch(dirname(pidfile), (_event, name) => {
        if (name === basename(pidfile) && existsSync(pidfile)) finish();
      });
      const finish = (e?: Error): void => {
        watcher.close();
        if (e) reject(e);
        else resolve();
      };
      void this.exited.then((x) =>
        finish(new Error(`the daemon exited (${x.code ?? x.signal}) before it was ready: ${x.stderr}`)),
      );
      if (existsSync(pidfile)) finish();
    });
  }

  kill(signal: NodeJS.Signals): void {
    this.child.kill(signal);
  }

  /** Kills the daemon if it still runs (test clean-up). */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    await this.exited.catch(() => undefined);
  }
}
