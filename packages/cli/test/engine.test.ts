import { expect } from 'chai';
import fc from 'fast-check';
import {
  crc32c,
  fillBlock,
  histogramPercentile,
  LATENCY_BOUNDARIES_NS,
  OffsetGenerator,
  Prng,
  VerifyMap,
} from '../src/index.js';

const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

describe('workload engine pieces', () => {
  describe('crc32c', () => {
    it('matches the Castagnoli check values', () => {
      expect(crc32c(ascii('123456789'))).to.equal(0xe3069283);
      expect(crc32c(new Uint8Array(0))).to.equal(0);
      expect(crc32c(new Uint8Array(32))).to.equal(0x8a9136aa); // RFC 3720 B.4: 32 bytes of zeroes
      expect(crc32c(new Uint8Array(32).fill(0xff))).to.equal(0x62a8ab43);
    });

    it('gives the same answer aligned or not, whole or in pieces', () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(7), fc.nat(300), (data, shift, cut) => {
          const buf = new Uint8Array(data.length + shift);
          buf.set(data, shift);
          const view = buf.subarray(shift);
          const whole = crc32c(data);
          expect(crc32c(view)).to.equal(whole);
          const at = Math.min(cut, data.length);
          expect(crc32c(data.subarray(at), crc32c(data.subarray(0, at)))).to.equal(whole);
        }),
      );
    });
  });

  describe('Prng', () => {
    it('is deterministic per seed and differs between seeds', () => {
      const a = new Prng(42);
      const b = new Prng(42);
      const c = new Prng(43);
      const sa = Array.from({ length: 8 }, () => a.nextU32());
      expect(Array.from({ length: 8 }, () => b.nextU32())).to.deep.equal(sa);
      expect(Array.from({ length: 8 }, () => c.nextU32())).to.not.deep.equal(sa);
    });

    it('below(n) stays in range and covers it', () => {
      const p = new Prng(1);
      const seen = new Set<number>();
      for (let i = 0; i < 2000; i++) {
        const v = p.below(7);
        expect(v).to.be.within(0, 6);
        seen.add(v);
      }
      expect(seen.size).to.equal(7);
      expect(p.below(1)).to.equal(0);
      const big = p.below(2 ** 40);
      expect(big).to.be.within(0, 2 ** 40 - 1);
    });
  });

  describe('OffsetGenerator', () => {
    it('walks sequential regions and wraps', () => {
      const g = new OffsetGenerator('write', 50, 4, 1);
      const none = new Set<number>();
      expect([0, 1, 2, 3, 4, 5].map(() => g.nextBlock(none))).to.deep.equal([0, 1, 2, 3, 0, 1]);
      expect(g.nextDirection()).to.equal('write');
    });

    it('never hands out a busy block', () => {
      fc.assert(
        fc.property(fc.integer({ min: 2, max: 64 }), fc.nat(), fc.boolean(), (blocks, seed, random) => {
          const g = new OffsetGenerator(random ? 'randrw' : 'read', 50, blocks, seed);
          const busy = new Set<number>();
          for (let i = 0; i < blocks - 1; i++) {
            const b = g.nextBlock(busy);
            expect(b).to.be.within(0, blocks - 1);
            expect(busy.has(b)).to.equal(false);
            busy.add(b);
          }
          // One free block left: it must be the answer.
          const last = g.nextBlock(busy);
          expect(busy.has(last)).to.equal(false);
          busy.add(last);
          expect(g.nextBlock(busy)).to.equal(-1);
        }),
      );
    });

    it('mixes reads and writes by rwmixread', () => {
      const g = new OffsetGenerator('randrw', 70, 100, 3);
      let reads = 0;
      for (let i = 0; i < 10_000; i++) if (g.nextDirection() === 'read') reads++;
      expect(reads).to.be.within(6700, 7300);
      expect(new OffsetGenerator('randread', 0, 10, 1).nextDirection()).to.equal('read');
      expect(new OffsetGenerator('randrw', 0, 10, 1).nextDirection()).to.equal('write');
    });
  });

  describe('fillBlock and VerifyMap', () => {
    it('gives every (block, generation) different contents', () => {
      const a = new Uint8Array(4096);
      const b = new Uint8Array(4096);
      fillBlock(a, 1, 10, 1);
      fillBlock(b, 1, 10, 1);
      expect(crc32c(a)).to.equal(crc32c(b));
      fillBlock(b, 1, 11, 1);
      expect(crc32c(b)).to.not.equal(crc32c(a));
      fillBlock(b, 1, 10, 2);
      expect(crc32c(b)).to.not.equal(crc32c(a));
    });

    it('checks reads of written blocks only and reports mismatches', () => {
      const v = new VerifyMap();
      const data = new Uint8Array(512);
      fillBlock(data, 9, 3, 1);
      expect(v.checkRead(3, 1536, data)).to.equal(true);
      expect(v.checked).to.equal(0);
      v.recordWrite(3, crc32c(data));
      expect(v.checkRead(3, 1536, data)).to.equal(true);
      const stale = data.slice();
      stale[100] ^= 1;
      expect(v.checkRead(3, 1536, stale)).to.equal(false);
      expect([v.checked, v.errors, v.written]).to.deep.equal([2, 1, 1]);
      expect(v.failures).to.deep.equal([{ offset: 1536, expected: crc32c(data), actual: crc32c(stale) }]);
      v.forget(3);
      expect(v.checkRead(3, 1536, stale)).to.equal(true);
      expect(v.written).to.equal(0);
    });
  });

  describe('latency percentiles from histogram bins', () => {
    it('has strictly increasing integer boundaries from 1 µs to 100 s', () => {
      const b = LATENCY_BOUNDARIES_NS;
      expect(b[0]).to.equal(1000);
      expect(b[b.length - 1]).to.equal(100e9);
      for (let i = 1; i < b.length; i++) {
        expect(Number.isSafeInteger(b[i])).to.equal(true);
        expect(b[i]).to.be.greaterThan(b[i - 1]);
        expect(b[i] / b[i - 1]).to.be.below(1.13);
      }
    });

    it('answers the upper boundary of the bin holding the nearest-rank sample', () => {
      const boundaries = [10, 20, 30];
      //            [0,10) [10,20) [20,30) [30,∞)
      const bins = [50, 40, 9, 1];
      expect(histogramPercentile(boundaries, bins, 0.5)).to.equal(10);
      expect(histogramPercentile(boundaries, bins, 0.51)).to.equal(20);
      expect(histogramPercentile(boundaries, bins, 0.99)).to.equal(30);
      expect(histogramPercentile(boundaries, bins, 1)).to.equal(30);
      expect(histogramPercentile(boundaries, bins, 0.99, 25)).to.equal(25);
      expect(histogramPercentile(boundaries, [0, 0, 0, 0], 0.5)).to.equal(undefined);
    });
  });
});
