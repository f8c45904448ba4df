// The real-guest test of vmkit-storage-daemon: a Debian cloud kernel boots under QEMU TCG with a
// vhost-user-blk-pci disk served by the daemon (vmkit's virtio-blk over this package's back-end),
// and its /init runs every check of the full guest test: whole-disk md5, O_DIRECT dd reads and
// writes at 4 KiB and 1 MiB, blkdiscard, a buffered write + fsync that must send a FLUSH, fio
// --verify=crc32c at depth 8. Afterwards the image must hold exactly what the checks wrote. Once
// with SeaBIOS (requests in the main loop) and once with qboot (requests in an IOThread, guest
// interrupts coalesced: the same checks must pass when interrupts are held and batched).
import { expect } from 'chai';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { nativeAddonStatus } from '../src/index.js';

import {
  consoleContext,
  expectFullCheckPassed,
  lastLines,
  loadGuestModule as load,
  runOf,
  startGuestSuite,
  startRuns,
  type DaemonsModule,
  type Firmware,
  type FullCheck,
  type GuestSuite,
  type Range,
} from './guest-harness.js';

/** The daemon's built binary (packages/storage-daemon depends on this package, so no import). */
const DAEMON_BIN = fileURLToPath(
  new URL('../../../storage-daemon/dist/src/bin/vmkit-storage-daemon.js', import.meta.url),
);

/** The export's interrupt coalescing in the qboot run. */
const COALESCING = 'coalesce-frames=8,coalesce-usecs=500';

/** The daemon's command line for one run: a raw image through the page cache, writable. */
function daemonArgv(image: string, socket: string, iothread: boolean): string[] {
  // prettier-ignore
  return [
    process.execPath, DAEMON_BIN,
    ...(iothread ? ['--object', 'iothread,id=io0'] : []),
    '--blockdev', `driver=file,node-name=file0,filename=${image},cache.direct=off`,
    '--blockdev', 'driver=raw,node-name=disk0,file=file0',
    '--export',
    `type=vhost-user-blk,id=vu0,node-name=disk0,addr.type=unix,addr.path=${socket},writable=on${iothread ? `,iothread=io0,${COALESCING}` : ''}`,
  ];
}

interface VmkitRun {
  check: FullCheck;
  /** Image mismatches once the daemon has flushed and exited. */
  afterExit: Range[];
  daemonOutput: string;
}

describe('guest: full check through vmkit-storage-daemon (vhost-user-blk, TCG)', function () {
  // Boot + checks take ~15 s per firmware with both running at once on two CPUs.
  this.timeout(600_000);

  let suite: GuestSuite | undefined;
  const runs = new Map<Firmware, Promise<VmkitRun>>();

  before(async function () {
    suite = await startGuestSuite(this, 'vmkit-guest-sd', () => {
      if (!nativeAddonStatus.available) return `the vhost-user addon is missing: ${nativeAddonStatus.reason}`;
      if (!existsSync(DAEMON_BIN)) return `${DAEMON_BIN} not built (npm run build)`;
      return undefined;
    });
    const { runGuest, layout, guest, dir, firmwares } = suite;
    const daemons = await load<DaemonsModule>('daemons.mjs');
    startRuns(runs, firmwares, async (firmware) => {
      const image = join(dir, `${firmware}.img`);
      const socket = join(dir, `${firmware}.sock`);
      const { md5 } = layout.createCheckImage(image);
      const daemon = await daemons.startDaemon(
        'vmkit-storage-daemon',
        daemonArgv(image, socket, firmware === 'qboot'),
        socket,
      );
      let check: FullCheck;
      try {
        check = await runGuest.runFullCheck({
          guest,
          image,
          md5,
          backend: { kind: 'vhost-user', socket },
          firmware,
          timeoutMs: 300_000,
        });
      } finally {
        await daemon.stop();
      }
      return { check, afterExit: layout.verifyCheckImage(image), daemonOutput: daemon.output() };
    });
  });
  after(async () => {
    await Promise.allSettled(runs.values());
    if (suite) rmSync(suite.dir, { recursive: true, force: true });
  });

  for (const firmware of ['seabios', 'qboot'] as const) {
    it(`every step passes and the image holds what the guest wrote (${firmware})`, async function () {
      const { check: r, afterExit, daemonOutput } = await runOf(this, suite!, runs, firmware);
      const context = `${consoleContext(firmware, r)}\ndaemon output:\n${lastLines(daemonOutput, 20)}`;
      expectFullCheckPassed(firmware, r, suite!.guest, context);
      expect(afterExit, `after the daemon exited\n${context}`).to.deep.equal([]);
      // One front-end came and went, each reported in one line.
      const left = "vmkit-storage-daemon: export 'vu0': client disconnected (peer closed the connection)";
      if (firmware === 'seabios') {
        expect(daemonOutput).to.equal(`vmkit-storage-daemon: export 'vu0': client connected\n${left}\n`);
      } else {
        // With coalescing the guest's depth-8 fio leaves interrupts to hold.
        const m =
          /^vmkit-storage-daemon: export 'vu0': client connected\n(.*), (\d+) interrupts held \(\d+ for the full 500 µs\)\n$/.exec(
            daemonOutput,
          );
        expect(m, context).to.not.equal(null);
        expect(m![1]).to.equal(left);
        expect(Number(m![2]), context).to.be.greaterThan(0);
      }
    });
  }
});
