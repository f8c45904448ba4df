/**
 * The vmkit-storage-daemon command: parse, start, serve until SIGINT or SIGTERM, shut down.
 * Problems are one line on stderr (`vmkit-storage-daemon: --export ...: <rule>`) and status 1,
 * never a stack trace (VMKIT_DEBUG=1 adds one for internal errors).
 */
import { VmkitError } from '@vmkit/core';
import { DAEMON_NAME, StorageDaemon } from './daemon/storage-daemon.js';
import { parseDaemonCommandLine, type DaemonCommandLine } from './options/command-line.js';

export const DAEMON_VERSION = '0.1.0';

export const DAEMON_USAGE = `Usage: ${DAEMON_NAME} [options]
vmkit storage daemon: serves block nodes to VMs (after qemu-storage-daemon)

  -h, --help             display this help and exit
  -V, --version          output version information and exit

  --blockdev [driver=]<driver>,node-name=<N>[,read-only=on|off][,cache.direct=on|off]
             [,cache.no-flush=on|off][,discard=ignore|unmap][,driver specific parameters...]
                         open a block node (the syntax of vmkit-img --image-opts; children
                         inline as file.driver=... or by node name as file=<N>)

  --object iothread,id=<id>
  --object throttle-group,id=<id>[,limits.<limit>=<value>...|,x-<limit>=<value>...]
                         create an object

  --export [type=]vhost-user-blk,id=<id>,node-name=<node-name>,
           addr.type=unix,addr.path=<socket-path>[,writable=on|off]
           [,logical-block-size=<block-size>][,num-queues=<num-queues>]
           [,iothread=<id>][,throttle-group=<id>]
           [,coalesce-frames=<n>[,coalesce-usecs=<us>]]
                         export the node as a vhost-user-blk device on a UNIX socket;
                         coalesce-*: hold a guest interrupt while requests are outstanding,
                         up to n completions or us microseconds (default 500)

  --chardev socket,id=<id>,path=<socket-path>,server=on[,wait=on|off]
                         a UNIX socket the daemon listens on, for --monitor

  --monitor [chardev=]<id>[,mode=control]
                         serve QMP on the chardev <id> (defined before it)

  --pidfile <path>       write the process id to a file once every export listens

Options take effect in the order given. SIGINT, SIGTERM or QMP quit: stop accepting, drain,
flush every node and exit.
`;

export interface DaemonStdio {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
}

/** The signals the daemon listens to (the process, or a test's emitter). */
export interface SignalSource {
  on(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
  off(event: 'SIGINT' | 'SIGTERM', listener: (signal: NodeJS.Signals) => void): unknown;
}

const processStdio: DaemonStdio = {
  stdout: (text) => void process.stdout.write(text),
  stderr: (text) => void process.stderr.write(text),
};

function describeError(e: unknown): string {
  if (e instanceof VmkitError) return e.message;
  const detail = e instanceof Error ? e.message : String(e);
  const stack = process.env.VMKIT_DEBUG && e instanceof Error && e.stack ? `\n${e.stack}` : '';
  return `internal error: ${detail}${stack}`;
}

/** The first of SIGINT/SIGTERM; afterwards (or after cancel) the signals have their default effect again. */
function firstSignal(signals: SignalSource): { received: Promise<NodeJS.Signals>; cancel: () => void } {
  let handler: (signal: NodeJS.Signals) => void = () => {};
  const cancel = (): void => {
    signals.off('SIGINT', handler);
    signals.off('SIGTERM', handler);
  };
  const received = new Promise<NodeJS.Signals>((resolve) => {
    handler = (signal) => {
      cancel();
      resolve(signal);
    };
  });
  signals.on('SIGINT', handler);
  signals.on('SIGTERM', handler);
  return { received, cancel };
}

/**
 * Runs the daemon on `argv` (without node and the script) until a signal; resolves with the exit
 * status: 0 after a clean shutdown, 1 for a bad command line, a failed start or a failed flush.
 */
export async function runStorageDaemon(
  argv: readonly string[],
  stdio: DaemonStdio = processStdio,
  signals: SignalSource = process,
): Promise<number> {
  const log = (line: string): void => stdio.stderr(`${DAEMON_NAME}: ${line}\n`);
  let cmd: DaemonCommandLine;
  try {
    cmd = parseDaemonCommandLine(argv);
  } catch (e) {
    log(describeError(e));
    return 1;
  }
  if (cmd.help) {
    stdio.stdout(DAEMON_USAGE);
    return 0;
  }
  if (cmd.version) {
    stdio.stdout(`${DAEMON_NAME} version ${DAEMON_VERSION}\n`);
    return 0;
  }
  if (!cmd.actions.some((a) => a.kind === 'export' || a.kind === 'monitor')) {
    log(`nothing to serve: give at least one --export or --monitor (see ${DAEMON_NAME} --help)`);
    return 1;
  }
  // Listening before start: a signal that arrives while the exports are set up is not lost.
  const signal = firstSignal(signals);
  let quit: () => void = () => {};
  const quitRequested = new Promise<void>((resolve) => (quit = resolve));
  let daemon: StorageDaemon;
  try {
    daemon = await StorageDaemon.start(cmd.actions, { log, pidfile: cmd.pidfile, onQuit: quit });
  } catch (e) {
    signal.cancel();
    log(describeError(e));
    return 1;
  }
  // QMP `quit` shuts down as SIGTERM does (qemu-storage-daemon's exit request).
  await Promise.race([signal.received, quitRequested]);
  signal.cancel();
  try {
    const result = await daemon.shutdown();
    return result.flushErrors.length === 0 ? 0 : 1;
  } catch (e) {
    log(`shutting down: ${describeError(e)}`);
    return 1;
  }
}
