/**
 * vmkit-io end to end: every command and every error path of the issue, through the real binary
 * (a spawned `node dist/src/bin/vmkit-io.js`). Outputs are compared after the iotests-style
 * timing filter.
 */
import { expect } from 'chai';
import { filterIo, vmkitIo } from './helpers/tools.js';
import { FILTERED_TIMING as T, useScratchImage } from './helpers/scratch.js';

describe('vmkit-io (spawned binary)', function () {
  this.timeout(120000);
  const scratch = useScratchImage();

  it('write/read with patterns print qemu-io lines; the image holds the data', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'write -P 0x55 1000 3000',
      '-c',
      'read -P 0x55 1000 3000',
      '-c',
      'read -q -P 0x55 1000 3000',
      scratch.img,
    ]);
    expect(r.status).to.equal(0);
    expect(filterIo(r.stdout)).to.equal(
      [
        'wrote 3000/3000 bytes at offset 1000',
        `2.930 KiB, 1 ops; ${T}`,
        'read 3000/3000 bytes at offset 1000',
        `2.930 KiB, 1 ops; ${T}`,
        '',
      ].join('\n'),
    );
    const data = scratch.dir.read('disk.img');
    expect(data[999]).to.equal(0);
    expect(data[1000]).to.equal(0x55);
    expect(data[3999]).to.equal(0x55);
    expect(data[4000]).to.equal(0);
  });

  it('a failed pattern check prints the offset and length and makes the exit status 1', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'write -q -P 1 0 4k',
      '-c',
      'read -q -P 2 -s 512 -l 1k 0 4k',
      '-c',
      'read -q -P 1 0 4k',
      scratch.img,
    ]);
    expect(r.stdout).to.equal('Pattern verification failed at offset 512, 1024 bytes\n');
    expect(r.status).to.equal(1);
  });

  it('read -v dumps the buffer; -C prints the machine format', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'write -q -P 0x41 0 20',
      '-c',
      'read -v 0 20',
      '-c',
      'read -C 0 512',
      scratch.img,
    ]);
    const lines = r.stdout.split('\n');
    expect(lines[0]).to.equal('00000000:  41 41 41 41 41 41 41 41 41 41 41 41 41 41 41 41  AAAAAAAAAAAAAAAA');
    expect(lines[1]).to.equal('00000010:  41 41 41 41  AAAA');
    expect(lines[2]).to.equal('read 20/20 bytes at offset 0');
    expect(lines[4]).to.match(/^512,1,0:00:\d\d\.\d\d,[0-9.]+,[0-9.]+$/);
  });

  it('write -z [-u], writev/readv, discard, flush, length, truncate, alloc, map, info', () => {
    const r = vmkitIo(
      [
        '-f',
        'raw',
        '-c',
        'write -q -P 7 0 64k',
        '-c',
        'write -z 1000 3000',
        '-c',
        'write -z -u 8k 4k',
        '-c',
        'read -q -P 0 1000 3000',
        '-c',
        'read -q -P 0 8k 4k',
        '-c',
        'writev -P 9 64k 512 1k',
        '-c',
        'readv -P 9 64k 1k 512',
        '-c',
        'discard 128k 64k',
        '-c',
        'flush',
        '-c',
        'length',
        '-c',
        'truncate 2M',
        '-c',
        'length',
        '-c',
        'alloc 0 4k',
        '-c',
        'map',
        '-c',
        'info',
        scratch.img,
      ],
      { cwd: scratch.dir.path },
    );
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(0);
    expect(filterIo(r.stdout).split('\n')).to.deep.equal([
      'wrote 3000/3000 bytes at offset 1000',
      `2.930 KiB, 1 ops; ${T}`,
      'wrote 4096/4096 bytes at offset 8192',
      `4 KiB, 1 ops; ${T}`,
      'wrote 1536/1536 bytes at offset 65536',
      `1.500 KiB, 1 ops; ${T}`,
      'read 1536/1536 bytes at offset 65536',
      `1.500 KiB, 1 ops; ${T}`,
      'discard 65536/65536 bytes at offset 131072',
      `64 KiB, 1 ops; ${T}`,
      '1 MiB',
      '2 MiB',
      '4096/4096 bytes allocated at offset 0 bytes',
      '2 MiB (0x200000) bytes     allocated at offset 0 bytes (0x0)',
      'format name: raw',
      'cluster size: 0 bytes',
      'vm state offset: 0 bytes',
      'Format specific information:',
      '    offset: 0',
      '    size: 1048576',
      '',
    ]);
    expect(scratch.dir.read('disk.img').length).to.equal(2 * 1024 * 1024);
  });

  it('aio_write/aio_read report on completion; aio_flush waits for them', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'aio_write -P 3 0 4k',
      '-c',
      'aio_flush',
      '-c',
      'aio_read -P 3 0 4k',
      '-c',
      'aio_flush',
      '-c',
      'aio_read -q -P 4 0 512',
      scratch.img,
    ]);
    expect(filterIo(r.stdout).split('\n')).to.deep.equal([
      'wrote 4096/4096 bytes at offset 0',
      `4 KiB, 1 ops; ${T}`,
      'read 4096/4096 bytes at offset 0',
      `4 KiB, 1 ops; ${T}`,
      // Completes at exit (outstanding AIO is drained before closing), still reported.
      'Pattern verification failed at offset 0, 512 bytes',
      '',
    ]);
    // AIO errors and mismatches do not change the exit status (the command itself succeeded).
    expect(r.status).to.equal(0);
  });
});
