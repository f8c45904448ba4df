import { expect } from 'chai';
import { cvtstr, g3, parseSize, sizeToStr, timestr } from '../src/common/numbers.js';

/** Values observed with qemu-io 7.2 (`alloc N 1` prints the parsed offset). */
describe('numbers: qemu_strtosz (cvtnum)', () => {
  const ok: Array<[string, number]> = [
    ['512', 512],
    ['4k', 4096],
    ['1K', 1024],
    ['1.5k', 1536],
    ['1.25k', 1280],
    ['0.5k', 512],
    ['1b', 1],
    ['1B', 1],
    ['010', 10],
    ['08', 8],
    ['0x10', 16],
    ['0X10', 16],
    ['0xab', 171],
    ['0x1B', 27],
    ['1.0', 1],
    ['1.', 1],
    ['1.k', 1024],
    ['0.0', 0],
    ['+1', 1],
    [' 1', 1],
    ['1T', 2 ** 40],
    ['1E', 2 ** 60],
    // INT64_MAX is accepted; as a JS number it rounds to 2^63.
    ['9223372036854775807', 2 ** 63],
  ];
  for (const [text, value] of ok) {
    it(`accepts '${text}' as ${value}`, () => {
      const r = parseSize(text);
      expect(r.ok).to.equal(true);
      if (r.ok) expect(r.value).to.equal(value);
    });
  }
  const invalid = [
    '1.5',
    '1.5b',
    '-1',
    '0x',
    '1kk',
    '.5k',
    '1e3',
    'inf',
    'nan',
    '00x10',
    '0x0x1',
    '0x1.8k',
    '',
  ];
  for (const text of invalid) {
    it(`refuses '${text}' as non-numeric`, () =>
      expect(parseSize(text)).to.deep.equal({ ok: false, error: 'invalid' }));
  }
  for (const text of ['9223372036854775808', '18446744073709551616']) {
    it(`refuses '${text}' as too large`, () =>
      expect(parseSize(text)).to.deep.equal({ ok: false, error: 'range' }));
  }
  it('accepts a suffix on hex with a deprecation warning', () => {
    const r = parseSize('0x1k');
    expect(r).to.deep.equal({
      ok: true,
      value: 1024,
      warning: 'Using a multiplier suffix on hex numbers is deprecated: 0x1k',
    });
  });
});

describe('numbers: output formats', () => {
  it('cvtstr prints like qemu-io', () => {
    expect(cvtstr(4096)).to.equal('4 KiB');
    expect(cvtstr(3000)).to.equal('2.930 KiB');
    expect(cvtstr(1536)).to.equal('1.500 KiB');
    expect(cvtstr(512)).to.equal('512 bytes');
    expect(cvtstr(0)).to.equal('0 bytes');
    expect(cvtstr(2 ** 20)).to.equal('1 MiB');
    expect(cvtstr(2 ** 60)).to.equal('1 EiB');
    expect(cvtstr(795.245)).to.equal('795.245000 bytes');
  });
  it('timestr: short and -C forms (QEMU 7)', () => {
    expect(timestr(4_200_000, false)).to.equal('00.00 sec');
    expect(timestr(420_000_000, false)).to.equal('00.42 sec');
    expect(timestr(61_500_000_000, false)).to.equal('0:01:01.50');
    expect(timestr(4_200_000, true)).to.equal('0:00:00.00');
  });
  it('size_to_str / %0.3g like qemu-img', () => {
    expect(sizeToStr(4096)).to.equal('4 KiB');
    expect(sizeToStr(2 ** 20)).to.equal('1 MiB');
    expect(sizeToStr(512)).to.equal('512 B');
    expect(sizeToStr(1000)).to.equal('0.977 KiB');
    expect(sizeToStr(3000)).to.equal('2.93 KiB');
    expect(sizeToStr(73728)).to.equal('72 KiB');
    expect(g3(999.6)).to.equal('1e+03');
    expect(g3(0.5)).to.equal('0.5');
  });
});
