// SIGINT/SIGTERM: the daemon stops accepting, disconnects its front-ends, waits for the requests
// already in the block layer, flushes every node (fdatasync), closes them and exits 0.
import { expect } from 'chai';
import { existsSync, readFileSync } from 'node:fs';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { fileIo } from '@vmkit/block-layer';
import { VirtioBlkStatus, VirtioBlkType } from '@vmkit/virtio-blk';
import type { StorageDaemon } from '../src/index.js';
import { BlkFrontEnd, until } from './helpers/blk-front-end.js';
import { fileExportArgs, imageByte, removeDir, startDaemon, useTestPaths } from './helpers/daemon-rig.js';
import { SpawnedDaemon } from './helpers/spawned-daemon.js';

const IMAGE_BYTES = 1 << 20;

type IoCallback = (err: NodeJS.ErrnoException | null, bytes: number) => void;

describe('vmkit-storage-daemon: shutdown drains and flushes', function () {
  const paths = useTestPaths(IMAGE_BYTES);
  afterEach(() => removeDir(paths.dir));

  describe('in process', () => {
    const saved = { write: fileIo.write, writev: fileIo.writev, fdatasync: fileIo.fdatasync };
    let daemon: StorageDaemon | null = null;
    let fe: BlkFrontEnd | null = null;

    afterEach(async () => {
      Object.assign(fileIo, saved);
      fe?.close();
      fe = null;
      await daemon?.shutdown();
      daemon = null;
    });

    it('waits for a write in flight, then fdatasyncs, then closes the socket', async () => {
      const events: string[] = [];
      const held: (() => void)[] = [];
      // Hold the host writes until the test lets them go; record completions and syncs in order.
      const hold =
        (name: 'write' | 'writev') =>
        (...args: unknown[]): void => {
          const cb = args[args.length - 1] as IoCallback;
          const rest = args.slice(0, -1);
          held.push(() =>
            (saved[name] as (...a: unknown[]) => void)(
              ...rest,
              (err: NodeJS.ErrnoException | null, n: number) => {
                events.push(`${name} done`);
                cb(err, n);
              },
            ),
          );
        };
      fileIo.write = hold('write');
      fileIo.writev = hold('writev');
      fileIo.fdatasync = (fd, cb) => {
        events.push('fdatasync');
        fs.fdatasync(fd, cb);
      };
      let lines: string[];
      ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket)));
      fe = BlkFrontEnd.connect(paths.socket);
      await fe.start();
      fe.submit(VirtioBlkType.OUT, 16, new Uint8Array(4096).fill(0xee));
      await until(() => held.length > 0, 'the write to reach the file driver');

      let finished = false;
      const result = daemon.shutdown().then((r) => {
        finished = true;
        return r;
      });
      await until(() => !existsSync(paths.socket), 'the socket to go');
      for (let i = 0; i < 50; i++) await new Promise<void>((resolve) => setImmediate(resolve));
      expect(finished, 'shutdown finished with a write in flight').to.equal(false);
      expect(events).to.deep.equal([]);

      for (const release of held.splice(0)) release();
      expect((await result).flushErrors).to.deep.equal([]);
      expect(events[0]).to.match(/^writev? done$/);
      expect(events).to.include('fdatasync');
      expect(events.indexOf('fdatasync')).to.be.greaterThan(0);
      const onDisk = readFileSync(paths.image);
      expect(onDisk.subarray(16 * 512, 16 * 512 + 4096).every((b) => b === 0xee)).to.equal(true);
      expect(lines).to.deep.equal([
        "export 'vu0': client connected",
        "export 'vu0': client disconnected (server closed)",
      ]);
      expect(daemon.machine.destroyed).to.equal(true);
    });

    it('a flush that fails is reported and makes the result an error', async () => {
      let lines: string[];
      ({ daemon, lines } = await startDaemon(fileExportArgs(paths.image, paths.socket)));
      fe = BlkFrontEnd.connect(paths.socket);
      await fe.start();
      expect((await fe.write(0, new Uint8Array(512).fill(3))).status).to.equal(VirtioBlkStatus.OK);
      fileIo.fdatasync = (_fd, cb) => cb(Object.assign(new Error('EIO'), { code: 'EIO', errno: -5 }));
      const result = await daemon.shutdown();
      expect(result.flushErrors).to.have.length.greaterThan(0);
      expect(result.flushErrors[0]).to.match(/^flushing node '\w+' failed: Input\/output error$/);
      expect(lines).to.include(result.flushErrors[0]);
    });
  });

  describe('the binary', function () {
    this.timeout(30_000);
    let proc: SpawnedDaemon | null = null;
    let fe: BlkFrontEnd | null = null;
    afterEach(async () => {
      fe?.close();
      fe = null;
      await proc?.stop();
      proc = null;
    });

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      it(`${signal} with a client connected: exit 0, data on disk, status lines, socket and pidfile gone`, async () => {
        const pidfile = join(paths.dir, 'daemon.pid');
        proc = SpawnedDaemon.spawn([...fileExportArgs(paths.image, paths.socket), '--pidfile', pidfile]);
        await proc.ready(pidfile);
        expect(Number(readFileSync(pidfile, 'utf8'))).to.equal(proc.child.pid);
        fe = BlkFrontEnd.connect(paths.socket);
        await fe.start();
        const data = new Uint8Array(65536).fill(0x77);
        expect((await fe.write(128, data)).status).to.equal(VirtioBlkStatus.OK);
        await until(() => proc!.stderr.includes('client connected'), 'the connect line');
        proc.kill(signal);
        const exit = await proc.exited;
        expect(exit.code, exit.stderr).to.equal(0);
        expect(exit.stderr).to.equal(
          "vmkit-storage-daemon: export 'vu0': client connected\n" +
            "vmkit-storage-daemon: export 'vu0': client disconnected (server closed)\n",
        );
        const onDisk = readFileSync(paths.image);
        expect(onDisk.subarray(128 * 512, 128 * 512 + 65536).every((b) => b === 0x77)).to.equal(true);
        expect(onDisk[128 * 512 + 65536]).to.equal(imageByte(128 * 512 + 65536));
        expect(existsSync(paths.socket), 'socket removed').to.equal(false);
        expect(existsSync(pidfile), 'pidfile removed').to.equal(false);
      });
    }
  });
});
