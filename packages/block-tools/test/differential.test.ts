/**
 * Differential tests against QEMU: the same qemu-io command script runs through qemu-io and through
 * vmkit-io, on two copies of the same raw image. The images must end byte-identical (and equal to
 * a model of the script), and the outputs must agree line for line once the timing figures are
 * filtered (iotests' _filter_qemu_io), so every pattern check agrees.
 *
 * Discards run with qemu-io's default discard=unmap: both file drivers punch holes, so discarded
 * bytes read back as zeroes (vmkit's through the @vmkit/host-io addon). Where vmkit-io cannot punch
 * holes (addon not built), scripts with discards run with `-d ignore` on both sides instead.
 */
import { expect } from 'chai';
import { TempDir, filterIo, haveQemuIo, qemu, vmkitIo, type RunResult } from './helpers/tools.js';

/** Which bytes of `discard off len` end up zero; null: none (discard=ignore). */
type DiscardEffect = ((off: number, len: number) => readonly [number, number]) | null;

/** file-posix punches exactly the range asked for (partial file-system blocks are zeroed). */
const punchAll = (off: number, len: number): readonly [number, number] => [off, off + len];

/**
 * Under blkdebug with align=4k, the block layer hands the unaligned head and tail of a discard to
 * blkdebug as pieces of their own, which it refuses (-ENOTSUP, ignored): only the 4k-aligned middle
 * is punched (observed with qemu-io: `discard 1000 100000` zeroes [4096, 98304)).
 */
const punchAligned4k = (off: number, len: number): readonly [number, number] => [
  Math.ceil(off / 4096) * 4096,
  Math.floor((off + len) / 4096) * 4096,
];

const SIZE = 4 * 1024 * 1024;

/** mulberry32: a small seeded PRNG, so that a failing script can be reproduced. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Script {
  readonly commands: string[];
  /** The image contents the script leaves. */
  readonly model: Uint8Array;
  /** The pattern-failure lines the script must print, in order. */
  readonly failures: string[];
}

/**
 * A random script of unaligned writes with patterns, zero writes (with and without unmap),
 * vectored and AIO writes, optional discards, and reads checking patterns (whole range, with -s/-l,
 * vectored, AIO), most of them expected to pass and some to fail; plus requests past the end.
 */
function makeScript(
  seed: number,
  count: number,
  discards: boolean,
  discardEffect: DiscardEffect,
  base: Uint8Array,
): Script {
  const rnd = prng(seed);
  const int = (n: number): number => Math.floor(rnd() * n);
  const model = base.slice();
  const failures: string[] = [];
  const commands: string[] = [];
  const written: Array<{ off: number; len: number; p: number }> = [];
  const length = (): number => (rnd() < 0.15 ? 65536 + int(140000) : 1 + int(9000));
  const range = (): { off: number; len: number } => {
    const len = length();
    return { off: int(SIZE - len), len };
  };
  const uniform = (off: number, len: number, p: number): boolean => {
    for (let i = off; i < off + len; i++) if (model[i] !== p) return false;
    return true;
  };
  const check = (off: number, len: number, p: number, reportOff = off, reportLen = len): void => {
    if (!uniform(off, len, p))
      failures.push(`Pattern verification failed at offset ${reportOff}, ${reportLen} bytes`);
  };
  const readTarget = (): { off: number; len: number; p: number } => {
    if (written.length > 0 && rnd() < 0.7) {
      const w = written[int(written.length)];
      const from = int(w.len);
      return { off: w.off + from, len: 1 + int(w.len - from), p: w.p };
    }
    const { off, len } = range();
    return { off, len, p: rnd() < 0.5 ? 0 : 1 + int(255) };
  };
  // iotest 177's fragmentation case: 128k at offset 1000 (crosses align and max-transfer limits).
  commands.push('write -P 0xaa 1000 128k', 'read -P 0xaa 1000 128k');
  model.fill(0xaa, 1000, 1000 + 131072);
  written.push({ off: 1000, len: 131072, p: 0xaa });
  for (let i = 0; i < count; i++) {
    const kind = int(discards ? 11 : 10);
    const p = 1 + int(255);
    const { off, len } = range();
    switch (kind) {
      case 0:
      case 1:
        commands.push(`write -P ${p} ${off} ${len}`);
        model.fill(p, off, off + len);
        written.push({ off, len, p });
        break;
      case 2:
        commands.push(`write -z${rnd() < 0.5 ? ' -u' : ''} ${off} ${len}`);
        model.fill(0, off, off + len);
        written.push({ off, len, p: 0 });
        break;
      case 3: {
        const l1 = Math.max(1, len >> 1);
        commands.push(`writev -P ${p} 0x${off.toString(16)} ${l1} ${len - l1}`);
        model.fill(p, off, off + len);
        written.push({ off, len, p });
        break;
      }
      case 4:
        commands.push(`aio_write -P ${p} ${off} ${len}`, 'aio_flush');
        model.fill(p, off, off + len);
        written.push({ off, len, p });
        break;
      case 5:
      case 6: {
        const t = readTarget();
        commands.push(`read -P ${t.p} ${t.off} ${t.len}`);
        check(t.off, t.len, t.p);
        break;
      }
      case 7: {
        const t = readTarget();
        const s = int(Math.min(t.len, 700));
        const l = int(t.len - s + 1);
        commands.push(`read -q -P ${t.p} -s ${s} -l ${l} ${t.off} ${t.len}`);
        check(t.off + s, l, t.p, t.off + s, l);
        break;
      }
      case 8: {
        const t = readTarget();
        const l1 = Math.max(1, t.len >> 1);
        if (t.len - l1 === 0) break;
        commands.push(`readv -P ${t.p} ${t.off} ${l1} ${t.len - l1}`);
        check(t.off, t.len, t.p);
        break;
      }
      case 9: {
        const t = readTarget();
        commands.push(`aio_read -P ${t.p} ${t.off} ${t.len}`, 'aio_flush');
        check(t.off, t.len, t.p);
        break;
      }
      case 10: {
        commands.push(`discard ${off} ${len}`);
        const [from, to] = discardEffect?.(off, len) ?? [0, 0];
        if (from < to) {
          model.fill(0, from, to);
          written.push({ off: from, len: to - from, p: 0 });
        }
        break;
      }
    }
    if (i % 25 === 24) commands.push(`read ${SIZE - 100} 512`, `write -P 1 ${SIZE} 1`);
  }
  commands.push('flush');
  return { commands, model, failures };
}

function firstDifference(a: Uint8Array, b: Uint8Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return i;
  return -1;
}

interface Variant {
  readonly name: string;
  /** Arguments before the -c list, given the image path. */
  readonly args: (image: string) => string[];
  readonly discards: boolean;
  /** What a discard does to the image (with discard=unmap). */
  readonly discardEffect?: DiscardEffect;
}

const blkdebugOpts = (image: string, limits: string): string =>
  `driver=raw,file.driver=blkdebug,${limits},file.image.driver=file,file.image.filename=${image}`;

const VARIANTS: readonly Variant[] = [
  {
    name: '-f raw, default flags (discard=unmap), no discards',
    args: (img) => ['-f', 'raw', img],
    discards: false,
  },
  {
    name: '-f raw, default flags (discard=unmap), with discards punching holes',
    args: (img) => ['-f', 'raw', img],
    discards: true,
    discardEffect: punchAll,
  },
  {
    name: '--image-opts blkdebug file.align=4k, file.max-transfer=64k',
    args: (img) => ['--image-opts', blkdebugOpts(img, 'file.align=4k,file.max-transfer=64k')],
    discards: false,
  },
  {
    name: '--image-opts blkdebug align 4k, max-transfer 64k, write-zero and discard limits (iotest 177), with discards',
    args: (img) => [
      '--image-opts',
      blkdebugOpts(
        img,
        'file.align=4k,file.max-transfer=64k,file.opt-write-zero=8k,file.max-write-zero=32k,file.opt-discard=8k,file.max-discard=32k',
      ),
    ],
    discards: true,
    discardEffect: punchAligned4k,
  },
];

/** Whether vmkit-io's discard punches holes here (the host-io addon is built and works). */
function vmkitPunchesHoles(dir: TempDir): boolean {
  const img = dir.image('probe.img', 65536, (b) => b.fill(0x55));
  const r = vmkitIo(['-f', 'raw', '-c', 'discard 0 64k', '-c', 'read -P 0 0 64k', img]);
  return r.status === 0 && !r.stdout.includes('Pattern verification failed');
}

describe('differential: qemu-io and vmkit-io run the same script', function () {
  this.timeout(180000);
  let dir: TempDir;

  before(function () {
    if (!haveQemuIo()) {
      console.log('skipped: qemu-io not installed');
      this.skip();
    }
  });
  let punches = false;
  before(function () {
    const probeDir = new TempDir();
    try {
      punches = vmkitPunchesHoles(probeDir);
    } finally {
      probeDir.cleanup();
    }
    if (!punches) console.log('vmkit-io cannot punch holes (no host-io addon): discards run with -d ignore');
  });
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir?.cleanup());

  VARIANTS.forEach((variant, index) => {
    it(`${variant.name}: byte-identical images, identical outputs and pattern checks`, () => {
      // Both copies start with the same content, zero except for one byte every 4 KiB, so that
      // zero writes and the padding of unaligned requests are visible.
      const base = new Uint8Array(SIZE);
      for (let i = 0; i < SIZE; i += 4096) base[i] = ((i >> 12) & 0xff) | 1;
      const ignore = variant.discards && !punches;
      const effect = ignore ? null : (variant.discardEffect ?? null);
      const expected = makeScript(0x5eed + index, 90, variant.discards, effect, base);
      const args = (img: string): string[] => [...(ignore ? ['-d', 'ignore'] : []), ...variant.args(img)];
      const qemuImg = dir.image('qemu.img', SIZE, (b) => b.set(base));
      const vmkitImgPath = dir.image('vmkit.img', SIZE, (b) => b.set(base));
      const cmds = expected.commands.flatMap((c) => ['-c', c]);
      const q: RunResult = qemu('qemu-io', [...cmds, ...args(qemuImg)]);
      const v: RunResult = vmkitIo([...cmds, ...args(vmkitImgPath)]);
      expect(filterIo(v.stderr)).to.equal(filterIo(q.stderr));
      expect(filterIo(v.stdout)).to.equal(filterIo(q.stdout));
      expect(v.status).to.equal(q.status);
      const qFailures = q.stdout.split('\n').filter((l) => l.startsWith('Pattern verification failed'));
      expect(qFailures).to.deep.equal(expected.failures);
      const qBytes = dir.read('qemu.img');
      const vBytes = dir.read('vmkit.img');
      expect(firstDifference(vBytes, qBytes), 'first differing byte between the images').to.equal(-1);
      expect(
        firstDifference(qBytes, expected.model),
        'first byte where QEMU differs from the model',
      ).to.equal(-1);
    });
  });
});
