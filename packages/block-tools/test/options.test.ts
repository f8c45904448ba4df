import { expect } from 'chai';
import { ConfigError } from '@vmkit/core';
import { crumple, parseOptionString, splitOptions } from '../src/common/options.js';
import { createGraph, resolveOpenOptions } from '../src/image/open.js';
import { getopt } from '../src/common/getopt.js';

describe('options: QEMU option strings', () => {
  it('splits key=value pairs, with ,, as a literal comma and an implied first key', () => {
    expect(splitOptions('a=b,c.d=x,,y,flag', 'file')).to.deep.equal([
      ['a', 'b'],
      ['c.d', 'x,y'],
      ['flag', 'on'],
    ]);
    expect(splitOptions('disk.img,driver=raw', 'file')).to.deep.equal([
      ['file', 'disk.img'],
      ['driver', 'raw'],
    ]);
  });
  it('nests dotted keys and turns numbered keys into lists', () => {
    expect(
      parseOptionString(
        'driver=blkdebug,image.driver=file,image.filename=x.img,inject-error.0.event=read_aio,inject-error.1.event=write_aio',
      ),
    ).to.deep.equal({
      driver: 'blkdebug',
      image: { driver: 'file', filename: 'x.img' },
      'inject-error': [{ event: 'read_aio' }, { event: 'write_aio' }],
    });
  });
  it('refuses a key that is both a value and a set of options', () => {
    expect(() =>
      crumple([
        ['file', 'x'],
        ['file.driver', 'file'],
      ]),
    ).to.throw(ConfigError);
  });
});

describe('options: opening requests', () => {
  const graph = createGraph();
  it('-f raw FILE: a raw node over a file node, with qemu-io flags on the top', () => {
    const r = resolveOpenOptions(
      { filename: 'd.img', format: 'raw', discard: 'unmap', readOnly: true },
      graph,
    );
    expect(r.options).to.deep.equal({
      driver: 'raw',
      file: { driver: 'file', filename: 'd.img' },
      'read-only': true,
      discard: 'unmap',
    });
    expect(r.warnings).to.deep.equal([]);
  });
  it('probes raw with a warning when no format is given', () => {
    const r = resolveOpenOptions({ filename: 'd.img' }, graph);
    expect(r.options.driver).to.equal('raw');
    expect(r.warnings[0]).to.match(
      /^WARNING: Image format was not specified for 'd.img' and probing guessed raw\./,
    );
  });
  it('blkdebug::FILE under `-o driver=raw,file.align=4k` (iotest 077)', () => {
    const r = resolveOpenOptions(
      { filename: 'blkdebug::d.img', options: parseOptionString('driver=raw,file.align=4k') },
      graph,
    );
    expect(r.options).to.deep.equal({
      driver: 'raw',
      file: { driver: 'blkdebug', align: '4k', image: { driver: 'file', filename: 'd.img' } },
    });
  });
  it('--image-opts with nested children and boolean generic keys', () => {
    const r = resolveOpenOptions(
      {
        filename: 'driver=raw,file.driver=file,file.filename=d.img,read-only=on,cache.direct=off',
        imageOpts: true,
      },
      graph,
    );
    expect(r.options).to.deep.equal({
      driver: 'raw',
      file: { driver: 'file', filename: 'd.img' },
      'read-only': true,
      cache: { direct: false },
    });
  });
  it('json: pseudo-protocol', () => {
    const r = resolveOpenOptions({ filename: 'json:{"driver":"raw","file.filename":"d.img"}' }, graph);
    expect(r.options).to.deep.equal({ driver: 'raw', file: { driver: 'file', filename: 'd.img' } });
  });
  it('refuses -f with --image-opts and unknown drivers', () => {
    expect(() =>
      resolveOpenOptions({ filename: 'driver=raw', imageOpts: true, format: 'raw' }, graph),
    ).to.throw('--image-opts and -f are mutually exclusive');
    expect(() => resolveOpenOptions({ filename: 'x', format: 'qcow9' }, graph)).to.throw(
      "Unknown driver 'qcow9'",
    );
  });
});

describe('getopt over util.parseArgs', () => {
  it('permutes, groups flags, takes attached and separate values', () => {
    const r = getopt(['-qP0x55', '0', '-v', '512'], 'CP:qv');
    expect(r).to.deep.equal({
      ok: true,
      options: [
        { letter: 'q', value: true },
        { letter: 'P', value: '0x55' },
        { letter: 'v', value: true },
      ],
      operands: ['0', '512'],
    });
  });
  it("reports GNU getopt's complaints", () => {
    expect(getopt(['-x'], 'q')).to.deep.equal({ ok: false, message: "invalid option -- 'x'" });
    expect(getopt(['-P'], 'P:')).to.deep.equal({ ok: false, message: "option requires an argument -- 'P'" });
    expect(getopt(['--foo'], 'q')).to.deep.equal({ ok: false, message: "unrecognized option '--foo'" });
    expect(getopt(['-1'], 'm:')).to.deep.equal({ ok: false, message: "invalid option -- '1'" });
  });
  it('maps long options to their letters', () => {
    const r = getopt(['--cmd', 'read 0 1', '--image-opts', 'x'], 'c:', {
      cmd: 'c',
      'image-opts': 'image-opts',
    });
    expect(r).to.deep.equal({
      ok: true,
      options: [
        { letter: 'c', value: 'read 0 1' },
        { letter: 'image-opts', value: true },
      ],
      operands: ['x'],
    });
  });
});
