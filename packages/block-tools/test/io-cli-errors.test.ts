/**
 * vmkit-io end to end, second part: the error paths (invalid numbers, offsets past the end,
 * read-only images, unknown commands, bad arguments, open failures), the interactive prompt,
 * blkdebug breakpoint commands, -T tracing and help. Spawned binary, as in io-cli.test.ts.
 */
import { expect } from 'chai';
import { filterIo, vmkitIo } from './helpers/tools.js';
import { FILTERED_TIMING as T, useScratchImage } from './helpers/scratch.js';

describe('vmkit-io (spawned binary): errors, prompt, blkdebug, trace', function () {
  this.timeout(120000);
  const scratch = useScratchImage();

  it('sizes and offsets accept suffixes and hex; invalid numbers give the parsing error', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'write -q -P 1 0x200 1k',
      '-c',
      'read -q -P 1 512 0x400',
      '-c',
      'read 1x 512',
      '-c',
      'read 0 99999999999999999999',
      '-c',
      'write -P 300 0 1',
      scratch.img,
    ]);
    expect(r.stdout.split('\n')).to.deep.equal([
      'Parsing error: non-numeric argument, or extraneous/unrecognized suffix -- 1x',
      'Parsing error: argument too large -- 99999999999999999999',
      '300 is not a valid pattern byte',
      '',
    ]);
    expect(r.status).to.equal(1);
  });

  it('an offset past the end fails with Input/output error and exit status 1, no stack trace', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'read 1M 512',
      '-c',
      'write 2M 1',
      '-c',
      'discard 4M 1',
      '-c',
      'readv 1M 512',
      scratch.img,
    ]);
    expect(r.stdout).to.equal(
      'read failed: Input/output error\nwrite failed: Input/output error\ndiscard failed: Input/output error\nreadv failed: Input/output error\n',
    );
    expect(r.stderr).to.equal('');
    expect(r.status).to.equal(1);
  });

  it('a write on a read-only image is refused before it runs', () => {
    const r = vmkitIo([
      '-r',
      '-f',
      'raw',
      '-c',
      'write 0 512',
      '-c',
      'truncate 2M',
      '-c',
      'read -q 0 512',
      scratch.img,
    ]);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('vmkit-io: Block node is read-only\nvmkit-io: Block node is read-only\n');
    expect(r.status).to.equal(1);
  });

  it('unknown commands, bad argument counts, bad options, no open file', () => {
    const r = vmkitIo([
      '-c',
      'foo',
      '-c',
      'help a b',
      '-c',
      'read 0 512',
      '-c',
      'help alloc',
      '-c',
      'open -r -f raw',
    ]);
    expect(r.stderr).to.equal(
      "command \"foo\" not found\nbad argument count 2 to help, expected between 0 and 1 arguments\nno file open, try 'help open'\nopen: invalid option -- 'f'\n",
    );
    expect(r.stdout).to.equal(
      'alloc offset [count] -- checks if offset is allocated in the file\nopen [-rnU] [-t cache] [-d discard] [-o options] [path] -- open the file specified by path\n',
    );
    expect(r.status).to.equal(1);
  });

  it('usage errors inside commands print the usage line', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'read -x 0 1',
      '-c',
      'write -z -P 1 0 1',
      '-c',
      'write -u 0 1',
      '-c',
      'read -s 1 0 1',
      '-c',
      'read -P 1 -s 2 0 1',
      '-c',
      'read 0 3G',
      '-c',
      'alloc',
      scratch.img,
    ]);
    expect(r.stderr).to.equal(
      "read: invalid option -- 'x'\nbad argument count 0 to alloc, expected between 1 and 2 arguments\n",
    );
    expect(r.stdout.split('\n')).to.deep.equal([
      'read [-bCqv] [-P pattern [-s off] [-l len]] off len -- reads a number of bytes at a specified offset',
      'Only one of -z, -P, and -s can be specified at the same time',
      '-u requires -z to be specified',
      'read [-bCqv] [-P pattern [-s off] [-l len]] off len -- reads a number of bytes at a specified offset',
      'pattern verification range exceeds end of read data',
      'length cannot exceed 2147483136, given 3G',
      '',
    ]);
    expect(r.status).to.equal(1);
  });

  it('write -P given twice is accepted (flags as in qemu-io, the last pattern wins)', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'write -q -P 1 -P 7 0 512',
      '-c',
      'read -q -P 7 0 512',
      '-c',
      'write -q -s /nonexistent -s /nonexistent 0 512',
      scratch.img,
    ]);
    expect(r.stdout).to.not.contain('Only one of');
    expect(r.stdout).to.not.contain('Pattern verification failed');
    // Two -s: one source; the missing file is what fails.
    expect(r.stdout + r.stderr).to.contain('/nonexistent');
  });

  it('without -c: the vmkit-io> prompt reads commands from stdin until quit', () => {
    const input = `open -o driver=raw ${scratch.img}\nwrite -q -P 5 0 1k\nread -q -P 5 0 1k\nlength\nquit\nread 0 1\n`;
    const r = vmkitIo([], { input });
    expect(r.stdout).to.equal('vmkit-io> vmkit-io> vmkit-io> vmkit-io> 1 MiB\nvmkit-io> ');
    expect(r.status).to.equal(0);
  });

  it('open/close: a second open is refused; commands after close need a file again', () => {
    const r = vmkitIo([
      '-c',
      `open -o driver=raw ${scratch.img}`,
      '-c',
      `open ${scratch.img}`,
      '-c',
      'close',
      '-c',
      'length',
    ]);
    expect(r.stderr).to.equal(
      "vmkit-io: file open already, try 'help close'\nno file open, try 'help open'\n",
    );
    expect(r.status).to.equal(1);
  });

  it('an image that cannot be opened: one error line and status 1', () => {
    const r = vmkitIo(['-f', 'raw', '-c', 'read 0 1', scratch.dir.file('missing.img')]);
    expect(r.stderr).to.equal(
      `vmkit-io: can't open device ${scratch.dir.file('missing.img')}: Could not open '${scratch.dir.file('missing.img')}': No such file or directory\n`,
    );
    expect(r.stdout).to.equal('');
    expect(r.status).to.equal(1);
    const bad = vmkitIo(['-f', 'qcow9', scratch.dir.file('missing.img')]);
    expect(bad.stderr).to.equal(
      `vmkit-io: can't open device ${scratch.dir.file('missing.img')}: Unknown driver 'qcow9'\n`,
    );
    expect(bad.status).to.equal(1);
  });

  it('command-line option errors: bad cache mode, -f with --image-opts, unknown option', () => {
    expect(vmkitIo(['-t', 'foo', scratch.img]).stderr).to.equal('vmkit-io: Invalid cache option: foo\n');
    const both = vmkitIo(['-f', 'raw', '--image-opts', 'driver=raw']);
    expect(both.stderr).to.equal('vmkit-io: --image-opts and -f are mutually exclusive\n');
    expect(both.status).to.equal(1);
    const unknown = vmkitIo(['-x']);
    expect(unknown.stderr).to.equal("vmkit-io: invalid option -- 'x'\n");
    expect(unknown.stdout).to.match(/^Usage: vmkit-io \[OPTIONS\]/);
    expect(unknown.status).to.equal(1);
  });

  it('--image-opts through blkdebug: break/wait_break/resume/remove_break (iotest 077 commands)', () => {
    const opts = `driver=raw,file.driver=blkdebug,file.align=4k,file.image.driver=file,file.image.filename=${scratch.img}`;
    const r = vmkitIo([
      '--image-opts',
      '-c',
      'break pwritev_rmw_head A',
      '-c',
      'aio_write -P 10 0x1200 0x200',
      '-c',
      'wait_break A',
      '-c',
      'resume A',
      '-c',
      'aio_flush',
      '-c',
      'read -q -P 10 0x1200 0x200',
      '-c',
      'read -q -P 0 0x1000 0x200',
      '-c',
      'break no_such_event B',
      '-c',
      'resume Z',
      '-c',
      'remove_break Z',
      opts,
    ]);
    expect(filterIo(r.stdout).split('\n')).to.deep.equal([
      "blkdebug: Suspended request 'A'",
      "blkdebug: Resuming request 'A'",
      'wrote 512/512 bytes at offset 4608',
      `512 bytes, 1 ops; ${T}`,
      'Could not set breakpoint: No such file or directory',
      'Could not resume request: No such file or directory',
      'Could not remove breakpoint Z: No such file or directory',
      '',
    ]);
    expect(r.status).to.equal(1);
  });

  it('breakpoint commands without a blkdebug node fail with Operation not supported', () => {
    const r = vmkitIo([
      '-f',
      'raw',
      '-c',
      'break pwritev A',
      '-c',
      'wait_break A',
      '-c',
      'sleep 1',
      '-c',
      'sleep x',
      scratch.img,
    ]);
    expect(r.stdout).to.equal(
      'Could not set breakpoint: Operation not supported\nCould not wait for breakpoint: Operation not supported\nx is not a valid number\n',
    );
    expect(r.status).to.equal(1);
  });

  it('wait_break on a breakpoint no request can reach: a deadlock diagnosis, not a silent exit', () => {
    const opts = `driver=blkdebug,image.driver=file,image.filename=${scratch.img}`;
    const r = vmkitIo([
      '--image-opts',
      '-c',
      'break pwritev A',
      '-c',
      'wait_break A',
      '-c',
      'read 0 1',
      opts,
    ]);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('vmkit-io: nothing left that could complete the current command (deadlock)\n');
    expect(r.status).to.equal(1);
  });

  it('-T prints the selected trace channels on stderr', () => {
    const opts = `driver=blkdebug,image.driver=file,image.filename=${scratch.img}`;
    const r = vmkitIo([
      '--image-opts',
      '-T',
      'blkdebug:*',
      '-c',
      'break pwritev A',
      '-c',
      'aio_write -q 0 512',
      '-c',
      'wait_break A',
      '-c',
      'remove_break A',
      '-c',
      'aio_flush',
      opts,
    ]);
    expect(r.stderr).to.match(
      /^vmkit:blkdebug:suspend \{ node: '#block\d+', tag: 'A', event: 'pwritev' \}\n/,
    );
    expect(r.stderr).to.match(/vmkit:blkdebug:resume \{ node: '#block\d+', tag: 'A' \}\n$/);
    expect(r.status).to.equal(0);
  });

  it('help lists the commands, `help CMD` the extended help', () => {
    const r = vmkitIo(['-c', 'help', '-c', 'help read', '-c', 'help nope']);
    expect(r.stdout).to.include('aio_flush -- completes all outstanding aio requests\n');
    expect(r.stdout).to.include('map  -- prints the allocated areas of a file\n');
    expect(r.stdout).to.include("\nUse 'help commandname' for extended help.\n");
    expect(r.stdout).to.include(" 'read -v 512 1k' - dumps 1 kilobyte read from 512 bytes into the file\n");
    expect(r.stdout).to.match(/command nope not found\n$/);
    expect(r.status).to.equal(1);
  });
});
