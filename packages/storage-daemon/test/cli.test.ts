// The command line: help and version, and every refusal as one line naming the option and the
// rule broken, status 1, no stack trace (QEMU's qemu-storage-daemon texts where it has one). Every
// case runs through runStorageDaemon in this process; the binary itself is spawned for the cases
// marked `spawn` (each spawn costs a Node start-up, ~0.5 s of CPU).
import { expect } from 'chai';
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { runStorageDaemon } from '../src/index.js';
import { removeDir, requireAddon, tempDir, writeImage } from './helpers/daemon-rig.js';
import { SpawnedDaemon, type DaemonExit } from './helpers/spawned-daemon.js';

interface RefusalCase {
  readonly name: string;
  /** Also run as a child process. */
  readonly spawn?: boolean;
  readonly args: (dir: string) => string[];
  /** The whole stderr line after `vmkit-storage-daemon: `. */
  readonly message: (dir: string) => string;
}

const exp = (dir: string, extra = '') =>
  `type=vhost-user-blk,id=vu0,node-name=n0,addr.type=unix,addr.path=${join(dir, 's.sock')}${extra}`;
const nullNode = ['--blockdev', 'driver=null-co,node-name=n0,size=1M'];

const CASES: readonly RefusalCase[] = [
  {
    name: 'an unknown option',
    spawn: true,
    args: () => ['--bogus'],
    message: () => "unrecognized option '--bogus'",
  },
  {
    name: 'a positional argument',
    args: () => ['disk.img'],
    message: () => 'disk.img: Unexpected argument',
  },
  {
    name: 'an option without its value',
    spawn: true,
    args: () => ['--blockdev', '--export', 'x'],
    message: () => "option '--blockdev' requires an argument",
  },
  {
    name: 'no export at all',
    args: () => nullNode,
    message: () =>
      'nothing to serve: give at least one --export or --monitor (see vmkit-storage-daemon --help)',
  },
  {
    name: '--blockdev without a driver',
    args: () => ['--blockdev', 'node-name=x'],
    message: () => "--blockdev node-name=x: Parameter 'driver' is missing",
  },
  {
    name: '--blockdev on a missing file',
    spawn: true,
    args: (d) => [
      '--blockdev',
      `driver=file,node-name=f,filename=${join(d, 'none.img')}`,
      '--export',
      exp(d),
    ],
    message: (d) =>
      `--blockdev driver=file,node-name=f,filename=${join(d, 'none.img')}: Could not open '${join(d, 'none.img')}': No such file or directory`,
  },
  {
    name: '--object without an id',
    args: () => ['--object', 'iothread'],
    message: () => "--object iothread: Parameter 'id' is missing",
  },
  {
    name: '--object of an unknown type',
    args: (d) => ['--object', 'nope,id=x', '--export', exp(d)],
    message: () => "--object nope,id=x: unknown object type 'nope' (known: iothread, throttle-group)",
  },
  {
    name: '--export of an unknown type',
    args: () => ['--export', 'type=nbd,id=e'],
    message: () =>
      "--export type=nbd,id=e: Parameter 'type' does not accept value 'nbd' (supported: vhost-user-blk)",
  },
  {
    name: '--export without node-name',
    args: () => ['--export', 'type=vhost-user-blk,id=e'],
    message: () => "--export type=vhost-user-blk,id=e: Parameter 'node-name' is missing",
  },
  {
    name: '--export without addr.path',
    args: () => ['--export', 'vhost-user-blk,id=e,node-name=n0,addr.type=unix'],
    message: () =>
      "--export vhost-user-blk,id=e,node-name=n0,addr.type=unix: Parameter 'addr.path' is missing",
  },
  {
    name: '--export on an inet address',
    args: () => ['--export', 'vhost-user-blk,id=e,node-name=n0,addr.type=inet,addr.host=h'],
    message: () =>
      "--export vhost-user-blk,id=e,node-name=n0,addr.type=inet,addr.host=h: addr.type=inet: only socket address type 'unix' is supported",
  },
  {
    name: 'writable= not a boolean',
    spawn: true,
    args: (d) => [...nullNode, '--export', exp(d, ',writable=maybe')],
    message: (d) => `--export ${exp(d, ',writable=maybe')}: Parameter 'writable' expects 'on' or 'off'`,
  },
  {
    name: 'logical-block-size not a power of two',
    args: (d) => [...nullNode, '--export', exp(d, ',logical-block-size=1000')],
    message: (d) =>
      `--export ${exp(d, ',logical-block-size=1000')}: Parameter 'logical-block-size' = 1000: must be a power of two, at least 512`,
  },
  {
    name: 'num-queues=0',
    args: (d) => [...nullNode, '--export', exp(d, ',num-queues=0')],
    message: (d) => `--export ${exp(d, ',num-queues=0')}: num-queues must be greater than 0`,
  },
  {
    name: 'an unknown export key',
    args: (d) => [...nullNode, '--export', exp(d, ',bogus=1')],
    message: (d) => `--export ${exp(d, ',bogus=1')}: Parameter 'bogus' is unexpected`,
  },
  {
    name: 'an export of a node not defined (yet)',
    args: (d) => ['--export', exp(d), ...nullNode],
    message: (d) => `--export ${exp(d)}: Cannot find device='' nor node-name='n0'`,
  },
  {
    name: 'an export in an iothread not defined',
    args: (d) => [...nullNode, '--export', exp(d, ',iothread=io0')],
    message: (d) => `--export ${exp(d, ',iothread=io0')}: iothread "io0" not found`,
  },
  {
    name: 'a writable export of a read-only node',
    spawn: true,
    args: (d) => ['--blockdev', 'null-co,node-name=n0,read-only=on', '--export', exp(d, ',writable=on')],
    message: (d) => `--export ${exp(d, ',writable=on')}: Cannot export read-only node as writable`,
  },
  {
    name: 'two exports with one id',
    args: (d) => [...nullNode, '--export', exp(d), '--export', exp(d).replace('s.sock', 't.sock')],
    message: (d) => `--export ${exp(d).replace('s.sock', 't.sock')}: Block export id 'vu0' is already in use`,
  },
  {
    name: 'a socket in a directory that does not exist',
    spawn: true,
    args: (d) => [...nullNode, '--export', exp(join(d, 'none'))],
    message: (d) =>
      `--export ${exp(join(d, 'none'))}: listen on ${join(d, 'none', 's.sock')}: No such file or directory (ENOENT)`,
  },
];

/** runStorageDaemon in this process, with its output collected. */
async function runInProcess(args: readonly string[]): Promise<DaemonExit> {
  let stdout = '';
  let stderr = '';
  const code = await runStorageDaemon(
    args,
    { stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) },
    new EventEmitter(),
  );
  return { code, signal: null, stdout, stderr };
}

describe('vmkit-storage-daemon: command line', function () {
  this.timeout(60_000);
  let dir: string;
  const spawned = new Map<string, Promise<DaemonExit>>();
  let help: Promise<DaemonExit>;
  let version: Promise<DaemonExit>;

  before(function () {
    requireAddon(this);
    dir = tempDir();
    writeImage(join(dir, 'disk.img'), 4096);
    // The child processes all start at once; each test awaits its own.
    help = SpawnedDaemon.run(['--help']);
    version = SpawnedDaemon.run(['-V']);
    for (const c of CASES) if (c.spawn === true) spawned.set(c.name, SpawnedDaemon.run(c.args(dir)));
    for (const p of [help, version, ...spawned.values()]) p.catch(() => undefined);
  });
  after(async () => {
    await Promise.allSettled([help, version, ...spawned.values()]);
    if (dir) removeDir(dir);
  });

  it('--help prints the usage on stdout and exits 0 (binary)', async () => {
    const r = await help;
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/^Usage: vmkit-storage-daemon \[options\]/);
    for (const o of ['--blockdev', '--object', '--export', '--pidfile', 'vhost-user-blk'])
      expect(r.stdout).to.include(o);
    expect(r.stderr).to.equal('');
  });

  it('-V prints the version and exits 0 (binary)', async () => {
    const r = await version;
    expect(r.code).to.equal(0);
    expect(r.stdout).to.equal('vmkit-storage-daemon version 0.1.0\n');
  });

  for (const c of CASES) {
    it(`refuses ${c.name}: one line, status 1`, async () => {
      const r = await runInProcess(c.args(dir));
      expect(r.stderr).to.equal(`vmkit-storage-daemon: ${c.message(dir)}\n`);
      expect(r.code).to.equal(1);
      expect(r.stdout).to.equal('');
    });
    if (c.spawn === true) {
      it(`refuses ${c.name}: the same line and status from the binary`, async () => {
        const r = await spawned.get(c.name)!;
        expect(r.stderr).to.equal(`vmkit-storage-daemon: ${c.message(dir)}\n`);
        expect(r.code).to.equal(1);
        expect(r.stdout).to.equal('');
      });
    }
  }
});
