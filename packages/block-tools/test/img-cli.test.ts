/**
 * vmkit-img end to end through the real binary: info, create, convert, compare, map, check,
 * bench, and their error paths (exit statuses and one-line messages, never a stack trace).
 */
import { expect } from 'chai';
import { statSync } from 'node:fs';
import { TempDir, vmkitImg, vmkitIo } from './helpers/tools.js';

const MiB = 1024 * 1024;

describe('vmkit-img (spawned binary)', function () {
  this.timeout(120000);
  let dir: TempDir;

  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.cleanup());

  it('create -f raw FILE SIZE makes a sparse file of that size; errors for size and format', () => {
    const r = vmkitImg(['create', '-f', 'raw', dir.file('a.img'), '64M']);
    expect(r.stdout).to.equal(`Formatting '${dir.file('a.img')}', fmt=raw size=67108864\n`);
    expect(r.status).to.equal(0);
    const st = statSync(dir.file('a.img'));
    expect(st.size).to.equal(64 * MiB);
    expect(st.blocks * 512).to.be.below(MiB);

    const noSize = vmkitImg(['create', '-f', 'raw', dir.file('b.img')]);
    expect(noSize.stderr).to.equal(
      `vmkit-img: ${dir.file('b.img')}: Image creation needs a size parameter\n`,
    );
    expect(noSize.status).to.equal(1);
    const badSize = vmkitImg(['create', '-f', 'raw', dir.file('b.img'), '12Q']);
    expect(badSize.stderr).to.equal(
      'vmkit-img: Invalid image size specified. You may use k, M, G, T, P or E suffixes for\n' +
        'vmkit-img: kilobytes, megabytes, gigabytes, terabytes, petabytes and exabytes.\n',
    );
    expect(badSize.status).to.equal(1);
    const badFmt = vmkitImg(['create', '-f', 'qcow9', dir.file('b.img'), '1M']);
    expect(badFmt.stderr).to.equal("vmkit-img: Unknown file format 'qcow9'\n");
    expect(badFmt.status).to.equal(1);
  });

  it('info: format, virtual size, disk size and the child node (human and JSON)', () => {
    const img = dir.image('a.img', MiB);
    const r = vmkitImg(['info', '-f', 'raw', img]);
    expect(r.status).to.equal(0);
    const lines = r.stdout.split('\n');
    expect(lines.slice(0, 3)).to.deep.equal([
      `image: ${img}`,
      'file format: raw',
      'virtual size: 1 MiB (1048576 bytes)',
    ]);
    expect(lines[3]).to.match(/^disk size: [0-9.]+ (KiB|MiB|B)$/);
    const child = lines.indexOf("Child node '/file':");
    expect(child).to.be.above(3);
    expect(lines.slice(child + 1, child + 4)).to.deep.equal([
      `    filename: ${img}`,
      '    protocol type: file',
      '    file length: 1 MiB (1048576 bytes)',
    ]);
    const json = vmkitImg(['info', '--output=json', '-f', 'raw', img]);
    const info = JSON.parse(json.stdout) as {
      format: string;
      'virtual-size': number;
      'actual-size': number;
      children: Array<{ name: string; info: { format: string; filename: string } }>;
    };
    expect(info.format).to.equal('raw');
    expect(info['virtual-size']).to.equal(MiB);
    expect(info['actual-size']).to.be.a('number');
    expect(info.children.map((c) => [c.name, c.info.format, c.info.filename])).to.deep.equal([
      ['file', 'file', img],
    ]);
  });

  it('info --image-opts through blkdebug; a missing image is one error line', () => {
    const img = dir.image('a.img', MiB);
    const r = vmkitImg(['info', '--image-opts', `driver=blkdebug,image.driver=file,image.filename=${img}`]);
    expect(r.stdout).to.include('file format: blkdebug\n');
    expect(r.stdout).to.include("Child node '/image':\n");
    const missing = vmkitImg(['info', '-f', 'raw', dir.file('none.img')]);
    expect(missing.stderr).to.equal(
      `vmkit-img: Could not open '${dir.file('none.img')}': Could not open '${dir.file('none.img')}': No such file or directory\n`,
    );
    expect(missing.status).to.equal(1);
  });

  it('convert -p: progress on a pipe, identical data, holes stay holes', () => {
    const src = dir.file('src.img');
    vmkitImg(['create', '-f', 'raw', src, '64M']);
    const w = vmkitIo(['-f', 'raw', '-c', 'write -q -P 0x11 0 64k', '-c', 'write -q -P 0x22 40M 1000', src]);
    expect(w.status).to.equal(0);
    const r = vmkitImg(['convert', '-p', '-f', 'raw', '-O', 'raw', src, dir.file('dst.img')]);
    expect(r.status).to.equal(0);
    expect(r.stdout.startsWith('    (0.00/100%)\r')).to.equal(true);
    expect(r.stdout.endsWith('    (100.00/100%)\r\n')).to.equal(true);
    const dst = statSync(dir.file('dst.img'));
    expect(dst.size).to.equal(64 * MiB);
    // Only the two written extents are allocated (4 KiB zero detection).
    expect(dst.blocks * 512).to.be.below(MiB);
    const cmp = vmkitImg(['compare', '-f', 'raw', src, dir.file('dst.img')]);
    expect(cmp.stdout).to.equal('Images are identical.\n');
    expect(cmp.status).to.equal(0);
  });

  it('convert -n writes zeroes over existing data; errors for a missing source or target', () => {
    const src = dir.image('src.img', MiB, (b) => b.fill(1, 0, 4096));
    const dst = dir.image('dst.img', MiB, (b) => b.fill(9));
    const r = vmkitImg(['convert', '-n', '-f', 'raw', '-O', 'raw', src, dst]);
    expect(r.status).to.equal(0);
    const out = dir.read('dst.img');
    expect(out[0]).to.equal(1);
    expect(out[4096]).to.equal(0);
    expect(out[MiB - 1]).to.equal(0);
    const noSrc = vmkitImg(['convert', '-f', 'raw', dir.file('none.img'), dir.file('x.img')]);
    expect(noSrc.stderr).to.match(/^vmkit-img: Could not open '.*none\.img': .*No such file or directory\n$/);
    expect(noSrc.status).to.equal(1);
    const noDst = vmkitImg(['convert', '-n', '-f', 'raw', '-O', 'raw', src, dir.file('none.img')]);
    expect(noDst.stderr).to.match(/^vmkit-img: Could not open '.*none\.img': /);
    expect(noDst.status).to.equal(1);
  });

  it('compare: 0 identical, 1 with the first differing offset, 2 on error; size mismatch and -s', () => {
    const a = dir.image('a.img', MiB);
    const b = dir.image('b.img', MiB, (x) => (x[1000] = 1));
    const big = dir.image('big.img', 2 * MiB);
    const bigDiff = dir.image('bigdiff.img', 2 * MiB, (x) => (x[1536 * 1024] = 1));
    const same = vmkitImg(['compare', '-f', 'raw', a, dir.image('a2.img', MiB)]);
    expect([same.stdout, same.status]).to.deep.equal(['Images are identical.\n', 0]);
    const diff = vmkitImg(['compare', '-f', 'raw', a, b]);
    expect([diff.stdout, diff.status]).to.deep.equal(['Content mismatch at offset 512!\n', 1]);
    const size = vmkitImg(['compare', '-f', 'raw', a, big]);
    expect([size.stdout, size.status]).to.deep.equal([
      'Warning: Image size mismatch!\nImages are identical.\n',
      0,
    ]);
    const sizeDiff = vmkitImg(['compare', '-f', 'raw', a, bigDiff]);
    expect([sizeDiff.stdout, sizeDiff.status]).to.deep.equal([
      'Warning: Image size mismatch!\nContent mismatch at offset 1572864!\n',
      1,
    ]);
    const strict = vmkitImg(['compare', '-s', '-f', 'raw', a, big]);
    expect([strict.stdout, strict.status]).to.deep.equal(['Strict mode: Image size mismatch!\n', 1]);
    const quiet = vmkitImg(['compare', '-q', '-f', 'raw', a, b]);
    expect([quiet.stdout, quiet.status]).to.deep.equal(['', 1]);
    const missing = vmkitImg(['compare', '-f', 'raw', a, dir.file('none.img')]);
    expect(missing.stderr).to.match(/^vmkit-img: Could not open '.*none\.img'/);
    expect(missing.status).to.equal(2);
    const usage = vmkitImg(['compare', a]);
    expect(usage.stderr).to.equal(
      "vmkit-img: Expecting two image file names\nTry 'vmkit-img --help' for more information\n",
    );
    expect(usage.status).to.equal(2);
  });

  it('map: human and JSON', () => {
    const img = dir.image('a.img', MiB);
    const human = vmkitImg(['map', '-f', 'raw', img]);
    expect(human.stdout).to.equal(
      `Offset          Length          Mapped to       File\n0               0x100000        0               ${img}\n`,
    );
    const json = vmkitImg(['map', '--output=json', '-f', 'raw', img]);
    expect(json.stdout).to.equal(
      '[{ "start": 0, "length": 1048576, "depth": 0, "present": true, "zero": false, "data": true, "offset": 0}]\n',
    );
    const nul = vmkitImg(['map', '--output=json', '--image-opts', 'driver=null-co,size=1M,read-zeroes=on']);
    expect(nul.status).to.equal(0);
    expect(JSON.parse(nul.stdout)).to.have.length(1);
  });

  it('check: no errors for a raw image (human and JSON)', () => {
    const img = dir.image('a.img', MiB);
    const r = vmkitImg(['check', '-f', 'raw', img]);
    expect([r.stdout, r.status]).to.deep.equal(['No errors were found on the image.\n', 0]);
    const json = vmkitImg(['check', '--output=json', '-f', 'raw', img]);
    expect(JSON.parse(json.stdout)).to.deep.equal({ 'check-errors': 0, filename: img, format: 'raw' });
    const bad = vmkitImg(['check', '--output=xml', '-f', 'raw', img]);
    expect(bad.stderr).to.equal(
      "vmkit-img: --output must be used with human or json as argument.\nTry 'vmkit-img --help' for more information\n",
    );
    expect(bad.status).to.equal(1);
  });

  it('bench: runs block-layer bench engine', () => {
    const img = dir.image('a.img', MiB);
    const r = vmkitImg(['bench', '-c', '100', '-d', '4', '-f', 'raw', img]);
    expect(r.stdout).to.match(
      /^Sending 100 read requests, 4096 bytes each, 4 in parallel \(starting at offset 0, step size 4096\)\nRun completed in \d+\.\d{3} seconds\.\n$/,
    );
    expect(r.status).to.equal(0);
  });

  it('bench: --output=json prints one object; -i io_uring and null-co image-opts work', () => {
    const img = dir.image('a.img', MiB);
    const r = vmkitImg(['bench', '-c', '64', '-d', '8', '-i', 'io_uring', '--output=json', '-f', 'raw', img]);
    expect(r.status).to.equal(0);
    const o = JSON.parse(r.stdout) as Record<string, unknown>;
    expect(o).to.include({ count: 64, depth: 8, size: 4096, write: false, offset: 0, step: 4096 });
    expect(o.iops).to.be.a('number').above(0);
    expect(o.mibps).to.be.closeTo(((o.iops as number) * 4096) / 2 ** 20, 1e-6);
    const n = vmkitImg(['bench', '-c', '1000', '-d', '32', '-w', '--image-opts', 'driver=null-co,size=1G']);
    expect(n.stdout).to.match(/^Sending 1000 write requests, 4096 bytes each, 32 in parallel/);
    expect(n.status).to.equal(0);
  });

  it('bench: option errors', () => {
    const img = dir.image('a.img', MiB);
    const r = vmkitImg(['bench', '-c', '0', img]);
    expect([r.stderr, r.status]).to.deep.equal(['vmkit-img: Invalid request count specified\n', 1]);
    const aio = vmkitImg(['bench', '-i', 'posix', img]);
    expect([aio.stderr, aio.status]).to.deep.equal(['vmkit-img: Invalid aio option: posix\n', 1]);
    const native = vmkitImg(['bench', '-i', 'native', img]);
    expect([native.stderr, native.status]).to.deep.equal([
      'vmkit-img: aio=native was specified, but it requires cache.direct=on\n',
      1,
    ]);
    const f = vmkitImg(['bench', '--flush-interval=4', img]);
    expect([f.stderr, f.status]).to.deep.equal([
      'vmkit-img: --flush-interval is only available in write tests\n',
      1,
    ]);
  });

  it('usage errors: no command, unknown command, unknown option, missing argument', () => {
    const none = vmkitImg([]);
    expect([none.stderr, none.status]).to.deep.equal([
      "vmkit-img: Not enough arguments\nTry 'vmkit-img --help' for more information\n",
      1,
    ]);
    const unknown = vmkitImg(['frobnicate']);
    expect(unknown.stderr).to.equal(
      "vmkit-img: Command not found: frobnicate\nTry 'vmkit-img --help' for more information\n",
    );
    const opt = vmkitImg(['info', '--bogus', 'x']);
    expect(opt.stderr).to.equal(
      "vmkit-img: unrecognized option '--bogus'\nTry 'vmkit-img --help' for more information\n",
    );
    const arg = vmkitImg(['info', 'x', '-f']);
    expect(arg.stderr).to.equal(
      "vmkit-img: missing argument for option '-f'\nTry 'vmkit-img --help' for more information\n",
    );
    expect(arg.status).to.equal(1);
    const help = vmkitImg(['--help']);
    expect(help.stdout).to.include('convert [--image-opts]');
    expect(help.status).to.equal(0);
  });
});
