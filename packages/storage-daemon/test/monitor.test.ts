// --chardev socket,...,server=on and --monitor chardev=ID: QMP (@vmkit/monitor) on a unix socket,
// with qemu-storage-daemon's option rules (in order, QEMU's texts), and `quit` shutting the daemon
// down as SIGTERM does.
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { existsSync, watch } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { parseDaemonCommandLine, runStorageDaemon, DaemonOptionError } from '../src/index.js';
import { removeDir, tempDir } from './helpers/daemon-rig.js';
import { SpawnedDaemon } from './helpers/spawned-daemon.js';

type Json = Record<string, unknown>;

/** A raw QMP client: JSON text out, one CRLF-terminated JSON value per message in. */
class RawQmpClient {
  private buffer = '';
  private readonly queue: Json[] = [];
  private waiter: ((m: Json) => void) | null = null;
  readonly closed: Promise<void>;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8').on('data', (text: string) => {
      this.buffer += text;
      let end: number;
      while ((end = this.buffer.indexOf('\r\n')) >= 0) {
        const message = JSON.parse(this.buffer.slice(0, end)) as Json;
        this.buffer = this.buffer.slice(end + 2);
        if (this.waiter) {
          const w = this.waiter;
          this.waiter = null;
          w(message);
        } else this.queue.push(message);
      }
    });
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
  }

  static open(path: string): Promise<RawQmpClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path, () => resolve(new RawQmpClient(socket)));
      socket.once('error', reject);
    });
  }

  next(): Promise<Json> {
    const m = this.queue.shift();
    if (m) return Promise.resolve(m);
    return new Promise((resolve) => (this.waiter = resolve));
  }

  send(text: string): void {
    this.socket.write(text);
  }

  /** Sends `execute` and returns the next message that is not an event. */
  async execute(command: string): Promise<Json> {
    this.send(JSON.stringify({ execute: command }));
    for (;;) {
      const m = await this.next();
      if (!('event' in m)) return m;
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

const chardev = (path: string, extra = ',wait=off') => `socket,id=m,path=${path},server=on${extra}`;

function refusal(args: readonly string[]): string {
  try {
    parseDaemonCommandLine(args);
  } catch (e) {
    expect(e).to.be.instanceOf(DaemonOptionError);
    return (e as DaemonOptionError).message;
  }
  throw new Error('the command line was accepted');
}

describe('vmkit-storage-daemon: --chardev and --monitor', function () {
  let dir: string;
  let qmp: string;

  beforeEach(() => {
    dir = tempDir();
    qmp = join(dir, 'qmp.sock');
  });
  afterEach(() => removeDir(dir));

  describe('option rules', () => {
    it('a --monitor naming a chardev not defined before it: "chardev \'m\' not found"', () => {
      expect(refusal(['--monitor', 'chardev=m', '--chardev', chardev(qmp)])).to.equal(
        "--monitor chardev=m: chardev 'm' not found",
      );
      expect(refusal(['--chardev', chardev(qmp), '--monitor', 'x'])).to.equal(
        "--monitor x: chardev 'x' not found",
      );
    });

    it('a socket chardev without a path', () => {
      expect(refusal(['--chardev', 'socket,id=m,server=on'])).to.equal(
        '--chardev socket,id=m,server=on: chardev: socket: no path given',
      );
    });

    it('server=off (and the default, off) is refused as unsupported', () => {
      for (const text of [`socket,id=m,path=${qmp},server=off`, `socket,id=m,path=${qmp}`]) {
        expect(refusal(['--chardev', text])).to.equal(
          `--chardev ${text}: server=off is not supported by vmkit-storage-daemon: the monitor socket must be a listening server (server=on)`,
        );
      }
    });

    it('a duplicate chardev id: "Duplicate ID \'m\' for chardev"', () => {
      const other = chardev(join(dir, 'b.sock'));
      expect(refusal(['--chardev', chardev(qmp), '--chardev', other])).to.equal(
        `--chardev ${other}: Duplicate ID 'm' for chardev`,
      );
    });

    it('other chardev and monitor refusals', () => {
      expect(refusal(['--chardev', 'pty,id=m'])).to.equal(
        "--chardev pty,id=m: 'pty' is not a valid char driver name (supported: socket)",
      );
      expect(refusal(['--chardev', `socket,path=${qmp},server=on`])).to.equal(
        `--chardev socket,path=${qmp},server=on: chardev: no id specified`,
      );
      expect(refusal(['--chardev', chardev(qmp), '--monitor', 'm,mode=readline'])).to.equal(
        '--monitor m,mode=readline: Only QMP is supported',
      );
      expect(refusal(['--chardev', chardev(qmp), '--monitor', 'm', '--monitor', 'm'])).to.equal(
        "--monitor m: Device 'm' is in use",
      );
      expect(refusal(['--chardev', chardev(qmp), '--monitor', 'm,bogus=1'])).to.equal(
        "--monitor m,bogus=1: Parameter 'bogus' is unexpected",
      );
    });

    it('accepts the qemu-storage-daemon spelling, in order', () => {
      const cmd = parseDaemonCommandLine(['--chardev', chardev(qmp), '--monitor', 'chardev=m']);
      expect(cmd.actions).to.have.length(1);
      const [action] = cmd.actions;
      expect(action?.kind).to.equal('monitor');
      if (action?.kind !== 'monitor') return;
      expect(action.chardev).to.deep.equal({ backend: 'socket', id: 'm', path: qmp, wait: false });
    });

    it('runStorageDaemon prints the refusal and returns 1', async () => {
      const err: string[] = [];
      const status = await runStorageDaemon(['--monitor', 'm'], {
        stdout: () => {},
        stderr: (t) => err.push(t),
      });
      expect(status).to.equal(1);
      expect(err.join('')).to.equal("vmkit-storage-daemon: --monitor m: chardev 'm' not found\n");
    });
  });

  describe('in process', () => {
    it('QMP quit shuts the daemon down as SIGTERM: status 0, socket removed', async () => {
      const signals = new EventEmitter();
      const pidfile = join(dir, 'pid');
      // Event-driven: the pidfile appears (renamed into place) once the monitor listens.
      const ready = new Promise<void>((resolve) => {
        const watcher = watch(dir, () => {
          if (!existsSync(pidfile)) return;
          watcher.close();
          resolve();
        });
      });
      const run = runStorageDaemon(
        [
          '--blockdev',
          'null-co,node-name=n0',
          '--chardev',
          chardev(qmp),
          '--monitor',
          'chardev=m',
          '--pidfile',
          pidfile,
        ],
        { stdout: () => {}, stderr: () => {} },
        signals,
      );
      await ready;
      const client = await RawQmpClient.open(qmp);
      expect(await client.next()).to.have.property('QMP');
      expect(await client.execute('qmp_capabilities')).to.deep.equal({ return: {} });
      expect(await client.execute('quit')).to.deep.equal({ return: {} });
      expect(await run).to.equal(0);
      expect(signals.listenerCount('SIGTERM')).to.equal(0);
      expect(existsSync(qmp)).to.equal(false);
      expect(existsSync(pidfile)).to.equal(false);
      client.close();
    });
  });

  describe('the binary', function () {
    this.timeout(20000);
    let daemon: SpawnedDaemon | null = null;
    afterEach(async () => {
      await daemon?.stop();
      daemon = null;
    });

    it('answers qmp_capabilities and query-block over the socket; quit exits 0', async () => {
      const pidfile = join(dir, 'pid');
      // prettier-ignore
      daemon = SpawnedDaemon.spawn([
        '--blockdev', 'driver=null-co,node-name=n0,size=1M',
        '--chardev', chardev(qmp), '--monitor', 'chardev=m', '--pidfile', pidfile,
      ]);
      await daemon.ready(pidfile);
      const client = await RawQmpClient.open(qmp);
      const greeting = await client.next();
      expect(greeting).to.have.nested.property('QMP.capabilities').that.deep.equals([]);
      expect(await client.execute('query-block')).to.have.nested.property('error.class', 'CommandNotFound');
      expect(await client.execute('qmp_capabilities')).to.deep.equal({ return: {} });
      const block = await client.execute('query-block');
      expect(block).to.have.property('return').that.is.an('array');
      client.send('{"execute": "query-named-block-nodes", "id": 7}');
      const nodes = await client.next();
      expect(nodes).to.have.property('id', 7);
      expect((nodes.return as Json[]).map((n) => n['node-name'])).to.include('n0');
      client.send('{"execute": "quit"}');
      expect(await client.next()).to.deep.equal({ return: {} });
      const shutdown = await client.next();
      expect(shutdown).to.have.property('event', 'SHUTDOWN');
      await client.closed;
      const exit = await daemon.exited;
      expect(exit.code).to.equal(0);
      expect(exit.stderr).to.equal('');
      expect(existsSync(qmp)).to.equal(false);
    });
  });
});
