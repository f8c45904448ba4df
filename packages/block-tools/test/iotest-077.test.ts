/**
 * iotest 077 (concurrent read-modify-write serialisation) as a differential test: its script of
 * blkdebug breakpoints and overlapping unaligned AIO writes runs through qemu-io and vmkit-io
 * (`open -o driver=raw,file.align=4k blkdebug::IMG`), outputs are compared with 077's filters,
 * then its verification reads run on both images, which must end byte-identical.
 *
 * It needs blkdebug breakpoints that really hold the request that hit them until `resume`; the
 * test probes for that in-process and skips (saying why) while the block layer lacks it.
 */
import { expect } from 'chai';
import { IOVector } from '@vmkit/core';
import { BlockBackend, findBlkdebug } from '@vmkit/block-layer';
import { createGraph } from '../src/image/open.js';
import { TempDir, filterIo, haveQemuIo, qemu, vmkitIo } from './helpers/tools.js';

/** Whether a write that hit a blkdebug breakpoint stays unfinished until it is resumed. */
async function breakpointsHoldRequests(): Promise<boolean> {
  const graph = createGraph();
  const bs = await graph.openNode({
    driver: 'blkdebug',
    align: '4k',
    image: { driver: 'memory', size: 65536 },
  });
  const blk = BlockBackend.withNode(bs);
  const dbg = findBlkdebug(bs)!;
  dbg.breakpoint('pwritev_rmw_head', 'A');
  let done = false;
  const write = blk.coPwritev(512, 512, IOVector.fromBuffer(new Uint8Array(512))).then(() => (done = true));
  await dbg.waitBreak('A');
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
  const held = !done;
  dbg.removeBreak('A');
  await write;
  await blk.unref();
  bs.unref();
  return held;
}

/** The commands of 077's test_io(), after its `open` line. */
function testIo(): string[] {
  const cmds = ['aio_write -P 10 0x200 0x200', 'aio_flush'];
  let off = 0x1000;
  for (const ev of ['head', 'after_head']) {
    cmds.push(
      `break pwritev_rmw_${ev} A`,
      `aio_write -P 10 ${off + 0x200} 0x200`,
      'wait_break A',
      `aio_write -P 11 ${off + 0x400} 0x200`,
      'sleep 100',
      'resume A',
      'aio_flush',
    );
    off += 0x1000;
  }
  cmds.push('break pwritev_rmw_after_tail A', 'aio_write -P 10 0x5000 0x200', 'wait_break A');
  for (let i = 1; i <= 7; i++)
    cmds.push(`aio_write -P ${10 + i} 0x${(0x5000 + i * 0x200).toString(16)} 0x200`);
  cmds.push('sleep 100', 'resume A', 'aio_flush');
  const overlap = (a: number, b: number, first: 'A' | 'B', late: boolean): string[] => {
    const seq = [
      'break pwritev_rmw_after_tail A',
      `aio_write -P 10 0x${a.toString(16)} 0x200`,
      'wait_break A',
    ];
    const mid = `aio_write -P 11 0x${(a + 0x800).toString(16)} 0x1000`;
    if (late) seq.push(mid);
    seq.push('break pwritev_rmw_after_head B', `aio_write -P 10 0x${b.toString(16)} 0x200`, 'wait_break B');
    if (!late) seq.push(mid);
    const second = first === 'A' ? 'B' : 'A';
    seq.push(`resume ${first}`, 'sleep 100', `resume ${second}`, 'aio_flush');
    return seq;
  };
  cmds.push(...overlap(0x6000, 0x7e00, 'A', false), ...overlap(0x8000, 0x9e00, 'B', false));
  cmds.push(...overlap(0xa000, 0xbe00, 'A', true), ...overlap(0xc000, 0xde00, 'B', true));
  cmds.push(
    'break pwritev_rmw_after_tail A',
    'aio_write -P 10 0xe000 0x1800',
    'wait_break A',
    'aio_write -P 11 0xf000 0xc00',
    'sleep 100',
    'resume A',
    'aio_flush',
  );
  cmds.push(
    'break pwritev A',
    'aio_write -P 10 0x10000 0x800',
    'wait_break A',
    'break pwritev_rmw_after_tail B',
    'aio_write -P 11 0x10000 0x400',
    'break pwritev_done C',
    'resume A',
    'wait_break C',
    'resume C',
    'sleep 100',
    'wait_break B',
    'resume B',
    'aio_flush',
  );
  cmds.push(
    'break pwritev A',
    'aio_write -P 10 0x11000 0x800',
    'wait_break A',
    'aio_write -P 11 0x11000 0x1000',
    'sleep 100',
    'resume A',
    'aio_flush',
  );
  return cmds;
}

/** 077's verify_io(). */
const VERIFY =
  `read -P 0 0 0x200|read -P 10 0x200 0x200|read -P 0 0x400 0xc00|read -P 0 0x1000 0x200|read -P 10 0x1200 0x200|read -P 11 0x1400 0x200|read -P 0 0x1600 0xa00|read -P 0 0x2000 0x200|read -P 10 0x2200 0x200|read -P 11 0x2400 0x200|read -P 0 0x2600 0xa00|read -P 10 0x5000 0x200|read -P 11 0x5200 0x200|read -P 12 0x5400 0x200|read -P 13 0x5600 0x200|read -P 14 0x5800 0x200|read -P 15 0x5a00 0x200|read -P 16 0x5c00 0x200|read -P 17 0x5e00 0x200|read -P 10 0x6000 0x200|read -P 0 0x6200 0x600|read -P 11 0x6800 0x1000|read -P 0 0x7800 0x600|read -P 10 0x7e00 0x200|read -P 10 0x8000 0x200|read -P 0 0x8200 0x600|read -P 11 0x8800 0x1000|read -P 0 0x9800 0x600|read -P 10 0x9e00 0x200|read -P 10 0xa000 0x200|read -P 0 0xa200 0x600|read -P 11 0xa800 0x1000|read -P 0 0xb800 0x600|read -P 10 0xbe00 0x200|read -P 10 0xc000 0x200|read -P 0 0xc200 0x600|read -P 11 0xc800 0x1000|read -P 0 0xd800 0x600|read -P 10 0xde00 0x200|read -P 10 0xe000 0x1000|read -P 11 0xf800 0x400|read -P 0 0xfc00 0x400|read -P 11 0x10000 0x400|read -P 10 0x10400 0x400|read -P 11 0x11800 0x800`.split(
    '|',
  );

/** 077's output filter on top of _filter_qemu_io. */
function filter077(text: string): string {
  return filterIo(text)
    .replace(/[0-9/]* bytes at offset [0-9]*/g, 'XXX/XXX bytes at offset XXX')
    .replace(/^[0-9]* (bytes|KiB)/gm, 'XXX bytes')
    .split('\n')
    .filter((l) => !l.includes('Suspended') && !l.includes('blkdebug: Resuming request'))
    .join('\n');
}

describe('iotest 077: concurrent RMW requests through blkdebug, qemu-io vs vmkit-io', function () {
  this.timeout(120000);
  let dir: TempDir;

  before(async function () {
    if (!haveQemuIo()) {
      console.log('skipped: qemu-io not installed');
      this.skip();
    }
    if (!(await breakpointsHoldRequests())) {
      console.log(
        'skipped: blkdebug breakpoints do not hold requests in this block layer (debugEvent is not awaited)',
      );
      this.skip();
    }
  });
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir?.cleanup());

  it('077: same filtered output, verify_io passes on both, images byte-identical', () => {
    const size = 1024 * 1024;
    const q = dir.image('q.img', 0);
    const v = dir.image('v.img', 0);
    qemu('qemu-img', ['create', '-f', 'raw', q, String(size)]);
    qemu('qemu-img', ['create', '-f', 'raw', v, String(size)]);
    const script = (img: string): string[] =>
      [`open -o driver=raw,file.align=4k blkdebug::${img}`, ...testIo()].flatMap((c) => ['-c', c]);
    const qr = qemu('qemu-io', script(q), { timeoutMs: 60000 });
    const vr = vmkitIo(script(v), { timeoutMs: 60000 });
    expect(filter077(vr.stdout)).to.equal(filter077(qr.stdout));
    expect(vr.status).to.equal(qr.status);
    const verify = VERIFY.flatMap((c) => ['-c', c]);
    const qv = qemu('qemu-io', ['-f', 'raw', ...verify, q]);
    const vv = vmkitIo(['-f', 'raw', ...verify, v]);
    expect(vv.stdout).to.not.include('Pattern verification failed');
    expect(filterIo(vv.stdout)).to.equal(filterIo(qv.stdout));
    expect(Buffer.compare(dir.read('v.img'), dir.read('q.img'))).to.equal(0);
  });
});
