import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { EventFd, FdWatcher, native, nativeAddonStatus } from '../src/index.js';
import { collectUntil, loopTurns, requireAddon, settledCounts } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url)); // dist/test
const packageDir = join(here, '..', '..');

describe('vhost-user: native lifetimes', function () {
  before(function () {
    requireAddon(this);
  });

  it('closed watchers are freed (uv_close callback and finalizer both ran)', async () => {
    const baseline = (await settledCounts()).watchers;
    const e = EventFd.create();
    (() => {
      for (let i = 0; i < 50; i++) {
        const w = FdWatcher.watch(e.fd, 'readable', () => undefined) as FdWatcher;
        w.close();
      }
    })();
    expect(native.debug_counts().watchers).to.be.greaterThan(baseline);
    expect(await collectUntil(() => native.debug_counts().watchers === baseline)).to.equal(true);
    e.close();
  });

  it('a stopped watcher that is dropped is closed and freed by the garbage collector', async () => {
    const baseline = (await settledCounts()).watchers;
    const e = EventFd.create();
    (() => {
      const w = FdWatcher.watch(e.fd, 'readable', () => undefined) as FdWatcher;
      w.stop();
    })();
    expect(await collectUntil(() => native.debug_counts().watchers === baseline)).to.equal(true);
    // The uv handle is gone, so the descriptor can be watched again.
    const again = FdWatcher.watch(e.fd, 'readable', () => undefined);
    expect(again).to.be.instanceOf(FdWatcher);
    (again as FdWatcher).close();
    e.close();
  });

  it('a started watcher is kept alive by its handle even when nothing references it', async () => {
    const e = EventFd.create();
    let calls = 0;
    const ref = new WeakRef(
      FdWatcher.watch(e.fd, 'readable', () => {
        calls++;
        e.read();
        ref.deref()?.close();
      }) as FdWatcher,
    );
    await collectUntil(() => false, 3);
    e.write();
    await loopTurns();
    expect(calls).to.equal(1);
    expect(ref.deref()?.closed).to.equal(true);
    e.close();
  });

  it('a worker that exits with an open watcher and mapping shuts down cleanly', async () => {
    const code = `
      const { parentPort } = require('node:worker_threads');
      const os = require(${JSON.stringify(nativeAddonStatus.path)});
      const e = os.eventfd(1, true);
      os.watch(e, 1, () => parentPort.postMessage('fired'));
      os.mmap(os.memfd_create('vu-worker', 4096), 4096, 0, true);
    `;
    const worker = new Worker(code, { eval: true });
    const fired = await new Promise((resolve) => worker.once('message', resolve));
    expect(fired).to.equal('fired');
    const exitCode = await worker.terminate();
    expect(exitCode).to.equal(1); // terminated, not crashed
  });
});

describe('vhost-user: without the native addon', () => {
  it('every function throws a clear error saying what is missing', function () {
    // A copy of the compiled package with no build/ folder next to it, inside this package so
    // that @vmkit/core still resolves.
    const root = join(packageDir, 'build', 'test-no-addon');
    rmSync(root, { recursive: true, force: true });
    mkdirSync(join(root, 'build'), { recursive: true });
    cpSync(join(packageDir, 'dist', 'src'), join(root, 'dist', 'src'), { recursive: true });
    writeFileSync(join(root, 'build', 'not-built.txt'), 'missing a C compiler (cc; install g++ or gcc)\n');
    const script = `
      const m = await import(${JSON.stringify(pathToFileURL(join(root, 'dist', 'src', 'index.js')).href)});
      const out = { status: m.nativeAddonStatus };
      try { m.EventFd.create(); } catch (e) { out.name = e.name; out.message = e.message; }
      console.log(JSON.stringify(out));
    `;
    try {
      const out = JSON.parse(
        execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }),
      ) as { status: { available: boolean }; name: string; message: string };
      expect(out.status.available).to.equal(false);
      expect(out.name).to.equal('NativeAddonMissingError');
      expect(out.message).to.equal(
        'vhost-user needs the native addon (packages/vhost-user/build/Release/vhost_user_os.node), which was ' +
          'not built: missing a C compiler (cc; install g++ or gcc). Install g++, make and python3 and run ' +
          '`npm rebuild @vmkit/vhost-user`',
      );
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });
});
