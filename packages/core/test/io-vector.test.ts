import { expect } from 'chai';
import { IOVector, bufferIsZero } from '../src/index.js';

/** Three views over one backing buffer: bytes 0..3, 10..14, 20..22 (sizes 4, 5, 3). */
function threeViews(): { backing: Uint8Array; iov: IOVector } {
  const backing = Uint8Array.from({ length: 32 }, (_, i) => i);
  const iov = new IOVector([backing.subarray(0, 4), backing.subarray(10, 15), backing.subarray(20, 23)]);
  return { backing, iov };
}

describe('IOVector', () => {
  describe('building', () => {
    it('counts size and niov, ignoring zero-length views', () => {
      const { iov } = threeViews();
      expect(iov.size).to.equal(12);
      expect(iov.niov).to.equal(3);
      iov.add(new Uint8Array(0));
      expect(iov.niov).to.equal(3);
      expect(new IOVector([new Uint8Array(0), new Uint8Array(2)]).niov).to.equal(1);
      expect(new IOVector().size).to.equal(0);
    });

    it('add returns this and keeps the very view (no copy)', () => {
      const a = new Uint8Array(4);
      const iov = new IOVector();
      expect(iov.add(a)).to.equal(iov);
      expect(iov.views[0]).to.equal(a);
    });

    it('fromBuffer makes a one-view vector over the buffer', () => {
      const buf = new Uint8Array(8);
      const iov = IOVector.fromBuffer(buf);
      expect(iov.niov).to.equal(1);
      expect(iov.size).to.equal(8);
      expect(iov.views[0]).to.equal(buf);
      expect(IOVector.fromBuffer(new Uint8Array(0)).niov).to.equal(0);
    });

    it('the constructor copies the list, not the data', () => {
      const list = [new Uint8Array(2)];
      const iov = new IOVector(list);
      list.push(new Uint8Array(3));
      expect(iov.niov).to.equal(1);
      list[0][0] = 9;
      expect(iov.views[0][0]).to.equal(9);
    });

    it('reset empties the vector for reuse', () => {
      const { iov } = threeViews();
      iov.reset();
      expect(iov.size).to.equal(0);
      expect(iov.niov).to.equal(0);
      iov.add(new Uint8Array(3));
      expect(iov.size).to.equal(3);
    });
  });

  describe('concat and slice', () => {
    it('concat adds sub-views of the source range without copying', () => {
      const { backing, iov } = threeViews();
      const dst = new IOVector().concat(iov, 2, 8);
      expect(dst.views.map((v) => v.length)).to.deep.equal([2, 5, 1]);
      expect([...dst.toBuffer()]).to.deep.equal([2, 3, 10, 11, 12, 13, 14, 20]);
      expect(dst.views.every((v) => v.buffer === backing.buffer)).to.equal(true);
      expect(dst.views[1]).to.equal(iov.views[1], 'whole views are reused as they are');
      dst.fill(0xee);
      expect([...backing.subarray(0, 4)]).to.deep.equal([0, 1, 0xee, 0xee]);
      expect(backing[20]).to.equal(0xee);
      expect(backing[21]).to.equal(21);
    });

    it('concat appends to existing views and of a zero length adds nothing', () => {
      const { iov } = threeViews();
      const dst = IOVector.fromBuffer(Uint8Array.of(99));
      expect(dst.concat(iov, 12, 0)).to.equal(dst);
      expect(dst.niov).to.equal(1);
      dst.concat(iov, 11, 1);
      expect([...dst.toBuffer()]).to.deep.equal([99, 22]);
    });

    it('concat of a vector with itself doubles it', () => {
      const { iov } = threeViews();
      iov.concat(iov, 0, iov.size);
      expect(iov.size).to.equal(24);
      expect(iov.niov).to.equal(6);
      const flat = iov.toBuffer();
      expect([...flat.subarray(12)]).to.deep.equal([...flat.subarray(0, 12)]);
    });

    it('slice shares data with the original', () => {
      const { iov } = threeViews();
      const s = iov.slice(3, 3);
      expect([...s.toBuffer()]).to.deep.equal([3, 10, 11]);
      s.copyFrom(Uint8Array.of(7, 7, 7));
      expect([...iov.toBuffer().subarray(2, 7)]).to.deep.equal([2, 7, 7, 7, 12]);
      expect(iov.slice(12, 0).size).to.equal(0);
    });

    it('bad offsets and lengths throw RangeError naming the value and the reason', () => {
      const { iov } = threeViews();
      expect(() => iov.slice(13, 0)).to.throw(
        RangeError,
        'IOVector.slice: offset 13 is beyond the vector size 12',
      );
      expect(() => iov.slice(4, 9)).to.throw(
        RangeError,
        'IOVector.slice: offset 4 + length 9 exceeds the vector size 12',
      );
      expect(() => iov.slice(-1, 1)).to.throw(
        RangeError,
        'IOVector.slice: offset -1 is not a non-negative integer',
      );
      expect(() => iov.slice(0.5, 1)).to.throw(RangeError, /offset 0.5 is not/);
      expect(() => iov.slice(0, NaN)).to.throw(
        RangeError,
        'IOVector.slice: length NaN is not a non-negative integer',
      );
      expect(() => iov.slice(0, -2)).to.throw(RangeError, /length -2/);
      const dst = new IOVector();
      expect(() => dst.concat(iov, 0, 13)).to.throw(
        RangeError,
        /IOVector.concat: offset 0 \+ length 13 exceeds/,
      );
      expect(() => dst.concat(iov, 20, 0)).to.throw(RangeError, /IOVector.concat: offset 20 is beyond/);
      expect(dst.niov).to.equal(0, 'nothing added on error');
    });
  });

  describe('data operations', () => {
    it('fill defaults to the whole vector and accepts offset and length', () => {
      const { iov } = threeViews();
      iov.fill(1, 3, 3);
      expect([...iov.toBuffer()]).to.deep.equal([0, 1, 2, 1, 1, 1, 12, 13, 14, 20, 21, 22]);
      iov.fill(5, 10);
      expect([...iov.toBuffer().subarray(9)]).to.deep.equal([20, 5, 5]);
      iov.fill(0);
      expect(iov.isZero()).to.equal(true);
      expect(() => iov.fill(0, 4, 9)).to.throw(RangeError, /IOVector.fill: offset 4 \+ length 9/);
    });

    it('copyFrom copies what fits and returns the count', () => {
      const { iov } = threeViews();
      expect(iov.copyFrom(Uint8Array.of(9, 8, 7), 3)).to.equal(3);
      expect([...iov.toBuffer().subarray(2, 7)]).to.deep.equal([2, 9, 8, 7, 12]);
      expect(iov.copyFrom(new Uint8Array(10).fill(4), 8)).to.equal(4);
      expect([...iov.toBuffer().subarray(7)]).to.deep.equal([13, 4, 4, 4, 4]);
      expect(iov.copyFrom(Uint8Array.of(1), 12)).to.equal(0);
      expect(iov.copyFrom(Uint8Array.of(1, 2))).to.equal(2);
      expect(() => iov.copyFrom(Uint8Array.of(1), 13)).to.throw(RangeError, /copyFrom: offset 13 is beyond/);
      expect(() => iov.copyFrom(Uint8Array.of(1), -1)).to.throw(RangeError, /copyFrom: offset -1/);
    });

    it('copyTo copies [offset, offset+length) to the start of dest', () => {
      const { iov } = threeViews();
      const dest = new Uint8Array(6).fill(0xff);
      expect(iov.copyTo(dest, 2, 4)).to.equal(4);
      expect([...dest]).to.deep.equal([2, 3, 10, 11, 0xff, 0xff]);
      const all = new Uint8Array(20);
      expect(iov.copyTo(all)).to.equal(12, 'default: what fits');
      expect([...all.subarray(0, 12)]).to.deep.equal([0, 1, 2, 3, 10, 11, 12, 13, 14, 20, 21, 22]);
      const small = new Uint8Array(3);
      expect(iov.copyTo(small, 8)).to.equal(3);
      expect([...small]).to.deep.equal([14, 20, 21]);
      expect(iov.copyTo(small, 12)).to.equal(0);
      expect(() => iov.copyTo(small, 0, 4)).to.throw(
        RangeError,
        'IOVector.copyTo: length 4 exceeds the destination length 3',
      );
      expect(() => iov.copyTo(all, 10, 3)).to.throw(
        RangeError,
        /offset 10 \+ length 3 exceeds the vector size 12/,
      );
      expect(() => iov.copyTo(all, 13)).to.throw(RangeError, /offset 13 is beyond/);
    });

    it('isZero checks the requested range only', () => {
      const backing = new Uint8Array(300);
      const iov = new IOVector([backing.subarray(1, 101), backing.subarray(150, 300)]);
      expect(iov.isZero()).to.equal(true);
      backing[299] = 1;
      expect(iov.isZero()).to.equal(false);
      expect(iov.isZero(0, 249)).to.equal(true);
      expect(iov.isZero(249, 1)).to.equal(false);
      expect(iov.isZero(250, 0)).to.equal(true);
      backing[1] = 1;
      expect(iov.isZero(1)).to.equal(false);
      expect(iov.isZero(1, 248)).to.equal(true);
      expect(() => iov.isZero(0, 251)).to.throw(RangeError, /isZero: offset 0 \+ length 251/);
    });

    it('toBuffer returns an independent copy', () => {
      const { backing, iov } = threeViews();
      const flat = iov.toBuffer();
      flat[0] = 0xaa;
      expect(backing[0]).to.equal(0);
      expect(flat.buffer).to.not.equal(backing.buffer);
    });
  });

  describe('bufferIsZero', () => {
    it('finds a single non-zero byte at any position and alignment', () => {
      const backing = new Uint8Array(1100);
      for (const start of [0, 1, 2, 3, 5]) {
        for (const len of [0, 1, 3, 63, 64, 65, 1000]) {
          const b = backing.subarray(start, start + len);
          expect(bufferIsZero(b)).to.equal(true);
          for (let i = 0; i < len; i += len > 100 ? 37 : 1) {
            b[i] = 0x80;
            expect(bufferIsZero(b), `start ${start} len ${len} at ${i}`).to.equal(false);
            b[i] = 0;
          }
          if (len > 0) {
            b[len - 1] = 1;
            expect(bufferIsZero(b)).to.equal(false);
            b[len - 1] = 0;
          }
        }
      }
    });
  });
});
