// The real-guest harness (../guest, plain JS run as is) proved against QEMU's own virtio-blk-pci:
// a Debian cloud kernel boots under TCG, its /init runs every check of the full guest test, and
// the image afterwards must hold exactly what the checks wrote. The same harness later drives the
// guest against vhost-user daemons. Host-side parts run without QEMU.
import { expect } from 'chai';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  consoleContext,
  expectFullCheckPassed,
  loadGuestModule as load,
  runOf,
  startGuestSuite,
  startRuns,
  type Firmware,
  type GuestRun,
  type FullCheck,
  type GuestSuite,
  type LayoutModule,
  type RunGuestModule,
} from './guest-harness.js';

describe('guest harness: host side', () => {
  let layout: LayoutModule;
  let runGuest: RunGuestModule;
  let dir: string;

  before(async () => {
    layout = await load<LayoutModule>('layout.mjs');
    runGuest = await load<RunGuestModule>('run-guest.mjs');
    dir = mkdtempSync(join(tmpdir(), 'vmkit-guest-host-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('blockPattern: 256 lines of "<tag><block, 12 digits>\\n" per 4 KiB block', () => {
    const b = layout.blockPattern('w1m', 1792);
    expect(b.length).to.equal(4096);
    expect(b.subarray(0, 16).toString()).to.equal('w1m000000001792\n');
    expect(b.subarray(4080).toString()).to.equal('w1m000000001792\n');
  });

  it('verifyCheckImage finds a changed byte outside the fio region and accepts zeroed discards', () => {
    const image = join(dir, 'disk.img');
    const l = layout.DEFAULT_LAYOUT;
    layout.createCheckImage(image, l);
    // Play the guest: the writes of the full check, a discard that zeroes, junk in fio's region.
    const writeAt = (data: Buffer, block: number) => {
      const fd = openSync(image, 'r+');
      writeSync(fd, data, 0, data.length, block * layout.BLOCK);
      closeSync(fd);
    };
    const blocks = (tag: string, start: number, count: number) => {
      const parts = [];
      for (let b = start; b < start + count; b++) parts.push(layout.blockPattern(tag, b));
      return Buffer.concat(parts);
    };
    expect(layout.verifyCheckImage(image, l)).to.have.length.greaterThan(0); // writes missing
    writeAt(blocks('w4k', l.write4k, 1), l.write4k);
    writeAt(blocks('w1m', l.write1m, 256), l.write1m);
    writeAt(blocks('fsy', l.fsync.start, l.fsync.count), l.fsync.start);
    writeAt(Buffer.alloc(l.discard.count * layout.BLOCK), l.discard.start);
    writeAt(Buffer.alloc(l.fio.count * layout.BLOCK, 0xa5), l.fio.start);
    expect(layout.verifyCheckImage(image, l)).to.deep.equal([]);
    writeAt(Buffer.from('x'), l.blocks - 1);
    expect(layout.verifyCheckImage(image, l)).to.deep.equal([{ start: l.blocks - 1, count: 1 }]);
  });

  it('parseResultLine reads step, ok and fields after console noise', () => {
    const r = runGuest.parseResultLine('\x1b[0mVMKIT-RESULT step=fsync ok=1 wce=1 flushes=2 t=3.5\r');
    expect(r).to.deep.equal({ step: 'fsync', ok: true, fields: { wce: '1', flushes: '2', t: '3.5' } });
    expect(runGuest.parseResultLine('VMKIT-RESULT step=md5 ok=0 md5=x')?.ok).to.equal(false);
    expect(runGuest.parseResultLine('[    1.0] random kernel line')).to.equal(null);
  });

  it('fullCheckFailures names missing and failed steps', () => {
    const run: GuestRun = {
      done: false,
      timedOut: false,
      durationMs: 0,
      console: '',
      steps: [
        { step: 'setup', ok: true, fields: {} },
        { step: 'md5', ok: false, fields: { md5: 'x' } },
      ],
    };
    const f = runGuest.fullCheckFailures(run);
    expect(f).to.include('md5: failed {"md5":"x"}');
    expect(f).to.include('fio-verify: missing');
    expect(f).to.include('done: missing');
    expect(f).not.to.include('setup: missing');
  });
});

describe('guest harness: full check on QEMU virtio-blk-pci (TCG)', function () {
  // Boot + checks take ~10 s per firmware on an idle host; preparing the cache the first time
  // downloads the kernel (and installs busybox-static/fio when missing).
  this.timeout(600_000);

  let suite: GuestSuite | undefined;
  const runs = new Map<Firmware, Promise<FullCheck>>();

  before(async function () {
    const { runGuest, layout, guest, dir, firmwares } = (suite = await startGuestSuite(
      this,
      'vmkit-guest-test',
    ));
    startRuns(runs, firmwares, (firmware) => {
      const image = join(dir, `${firmware}.img`);
      const { md5 } = layout.createCheckImage(image);
      return runGuest.runFullCheck({
        guest,
        image,
        md5,
        backend: { kind: 'qemu-virtio', image },
        firmware,
        timeoutMs: 300_000,
      });
    });
  });
  after(() => {
    if (suite) rmSync(suite.dir, { recursive: true, force: true });
  });

  for (const firmware of ['seabios', 'qboot'] as const) {
    it(`every step passes and the image holds what the guest wrote (${firmware})`, async function () {
      const r = await runOf(this, suite!, runs, firmware);
      // The run uses cache=writeback: the device offers the write-back cache the fsync check needs.
      expectFullCheckPassed(firmware, r, suite!.guest, consoleContext(firmware, r));
    });
  }
});
