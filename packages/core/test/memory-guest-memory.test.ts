import { expect } from 'chai';
import diagnostics_channel from 'node:diagnostics_channel';
import {
  ConfigError,
  GuestMemory,
  GuestMemoryError,
  type GuestMemoryErrorReason,
  type GuestMemoryRegion,
} from '../src/index.js';

const MAX_U64 = (1n << 64n) - 1n;

function expectFault(fn: () => unknown, reason: GuestMemoryErrorReason, message?: RegExp): GuestMemoryError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught, 'expected a GuestMemoryError').to.be.instanceOf(GuestMemoryError);
  const err = caught as GuestMemoryError;
  expect(err.reason).to.equal(reason);
  if (message) expect(err.message).to.match(message);
  return err;
}

/** 0x1000..0x1fff and 0x2000..0x2fff (adjacent), a gap, then 0x4000..0x40ff. */
function layout(): GuestMemory {
  const mem = new GuestMemory();
  mem.addRegion(0x2000, new ArrayBuffer(0x1000), 'high');
  mem.addRegion(0x1000, new ArrayBuffer(0x1000), 'low');
  mem.addRegion(0x4000, new ArrayBuffer(0x100), 'far');
  return mem;
}

describe('GuestMemory', () => {
  describe('regions', () => {
    it('keeps regions sorted by address and reports their geometry', () => {
      const mem = layout();
      expect(mem.regions.map((r) => r.name)).to.deep.equal(['low', 'high', 'far']);
      const [low] = mem.regions;
      expect(low.gpa).to.equal(0x1000);
      expect(low.size).to.equal(0x1000);
      expect(low.end).to.equal(0x2000);
      expect(low.shared).to.equal(false);
      expect(low.bytes.length).to.equal(0x1000);
    });

    it('hands out frozen snapshots of the region list', () => {
      const mem = layout();
      const regions = mem.regions;
      expect(Object.isFrozen(regions)).to.equal(true);
      expect(() => (regions as GuestMemoryRegion[]).reverse()).to.throw(TypeError);
      expect(mem.readU8(0x1000)).to.equal(0);
    });

    it('traces region-add and region-del on vmkit:memory:*', () => {
      const seen: unknown[] = [];
      const onAdd = (m: unknown): void => void seen.push(['add', m]);
      const onDel = (m: unknown): void => void seen.push(['del', m]);
      diagnostics_channel.subscribe('vmkit:memory:region-add', onAdd);
      diagnostics_channel.subscribe('vmkit:memory:region-del', onDel);
      try {
        const mem = new GuestMemory();
        const r = mem.addRegion(0x1000, new SharedArrayBuffer(16), 'traced');
        mem.removeRegion(r);
      } finally {
        diagnostics_channel.unsubscribe('vmkit:memory:region-add', onAdd);
        diagnostics_channel.unsubscribe('vmkit:memory:region-del', onDel);
      }
      expect(seen).to.deep.equal([
        ['add', { name: 'traced', gpa: 0x1000, size: 16, shared: true }],
        ['del', { name: 'traced', gpa: 0x1000, size: 16 }],
      ]);
    });

    it('names an unnamed region after its address', () => {
      const mem = new GuestMemory();
      expect(mem.addRegion(0xabc000, new ArrayBuffer(16)).name).to.equal('ram@0xabc000');
    });

    it('refuses overlapping regions with both ranges in the message', () => {
      const mem = layout();
      expect(() => mem.addRegion(0x2fff, new ArrayBuffer(2), 'x')).to.throw(
        ConfigError,
        "guest memory region 'x' [0x2fff, 0x3001) overlaps region 'high' [0x2000, 0x3000)",
      );
      expect(() => mem.addRegion(0x0, new ArrayBuffer(0x10000), 'big')).to.throw(ConfigError, /overlaps/);
      expect(() => mem.addRegion(0x1800, new ArrayBuffer(1))).to.throw(ConfigError, /overlaps region 'low'/);
      expect(mem.regions).to.have.length(3);
      // Touching is not overlapping.
      mem.addRegion(0x3000, new ArrayBuffer(0x1000), 'mid');
      expect(mem.regions.map((r) => r.name)).to.deep.equal(['low', 'high', 'mid', 'far']);
    });

    it('refuses bad addresses, empty, resizable and non-buffer backings', () => {
      const mem = new GuestMemory();
      expect(() => mem.addRegion(-4096, new ArrayBuffer(1))).to.throw(ConfigError, /-0x1000/);
      expect(() => mem.addRegion(1.5, new ArrayBuffer(1))).to.throw(
        ConfigError,
        /not a non-negative integer/,
      );
      expect(() => mem.addRegion(0, new ArrayBuffer(0), 'e')).to.throw(ConfigError, "'e': buffer is empty");
      expect(() => mem.addRegion(Number.MAX_SAFE_INTEGER - 1, new ArrayBuffer(2))).to.throw(
        ConfigError,
        /below 2\^53/,
      );
      // The ES2024 resizable-buffer constructor, not in this project's ES2023 lib typings.
      const Resizable = ArrayBuffer as unknown as new (
        n: number,
        o: { maxByteLength: number },
      ) => ArrayBuffer;
      const resizable = new Resizable(8, { maxByteLength: 16 });
      expect(() => mem.addRegion(0, resizable)).to.throw(ConfigError, /resizable/);
      expect(() => mem.addRegion(0, {} as ArrayBuffer)).to.throw(ConfigError, /not an ArrayBuffer/);
      expect(mem.regions).to.have.length(0);
    });

    it('maps exactly the bytes of a Uint8Array view', () => {
      const backing = new Uint8Array(32);
      const mem = new GuestMemory();
      mem.addRegion(0x100, backing.subarray(8, 24));
      mem.writeU8(0x100, 0xaa);
      mem.writeU8(0x10f, 0xbb);
      expect(backing[8]).to.equal(0xaa);
      expect(backing[23]).to.equal(0xbb);
      expectFault(() => mem.readU8(0x110), 'unmapped');
      expectFault(() => mem.readU8(0xff), 'unmapped');
    });

    it('removeRegion unmaps (also from the last-hit cache) and refuses unknown regions', () => {
      const mem = layout();
      const far = mem.regions[2];
      mem.writeU32(0x4000, 7);
      expect(mem.readU32(0x4000)).to.equal(7); // primes the cache with 'far'
      const before = mem.regions;
      mem.removeRegion(far);
      expect(before).to.have.length(3, 'earlier snapshots are not mutated');
      expect(mem.regions.map((r) => r.name)).to.deep.equal(['low', 'high']);
      expectFault(() => mem.readU32(0x4000), 'unmapped');
      expect(() => mem.removeRegion(far)).to.throw(
        ConfigError,
        "guest memory region 'far' is not mapped here",
      );
      const other = new GuestMemory().addRegion(0, new ArrayBuffer(1), 'alien');
      expect(() => mem.removeRegion(other)).to.throw(ConfigError, /'alien'/);
    });
  });

  describe('typed accessors', () => {
    it('are little-endian and read back what was written', () => {
      const mem = layout();
      mem.writeU8(0x1000, 0x12);
      mem.writeU16(0x1010, 0xbeef);
      mem.writeU32(0x1020, 0xdeadbeef);
      mem.writeU64(0x1030, 0x0123456789abcdefn);
      expect(mem.readU8(0x1000)).to.equal(0x12);
      expect(mem.readU16(0x1010)).to.equal(0xbeef);
      expect(mem.readU32(0x1020)).to.equal(0xdeadbeef);
      expect(mem.readU64(0x1030)).to.equal(0x0123456789abcdefn);
      const bytes = mem.regions[0].bytes;
      expect([...bytes.subarray(0x10, 0x12)]).to.deep.equal([0xef, 0xbe]);
      expect([...bytes.subarray(0x20, 0x24)]).to.deep.equal([0xef, 0xbe, 0xad, 0xde]);
      expect([...bytes.subarray(0x30, 0x38)]).to.deep.equal([0xef, 0xcd, 0xab, 0x89, 0x67, 0x45, 0x23, 0x01]);
    });

    it('accept bigint addresses like numbers', () => {
      const mem = layout();
      mem.writeU32(0x2004n, 0x11223344);
      expect(mem.readU32(0x2004)).to.equal(0x11223344);
      expect(mem.readU16(0x2006n)).to.equal(0x1122);
      mem.writeU64(0x2ff8n, MAX_U64);
      expect(mem.readU64(0x2ff8n)).to.equal(MAX_U64);
      mem.writeU8(0x2000n, 0x5a);
      expect(mem.readU8(0x2000n)).to.equal(0x5a);
      mem.writeU16(0x2002n, 0xa55a);
      expect(mem.readU16(0x2002)).to.equal(0xa55a);
    });

    it('allow unaligned accesses', () => {
      const mem = layout();
      mem.writeU64(0x1003, 0x1122334455667788n);
      mem.writeU32(0x1101, 0xcafef00d);
      mem.writeU16(0x1201, 0x4321);
      expect(mem.readU64(0x1003)).to.equal(0x1122334455667788n);
      expect(mem.readU32(0x1101)).to.equal(0xcafef00d);
      expect(mem.readU16(0x1201)).to.equal(0x4321);
      expect(mem.readU8(0x1003)).to.equal(0x88);
    });

    it('store values modulo their width', () => {
      const mem = layout();
      mem.writeU8(0x1000, 0x1ff);
      mem.writeU16(0x1002, -1);
      mem.writeU32(0x1004, 2 ** 32 + 5);
      mem.writeU64(0x1008, -1n);
      expect(mem.readU8(0x1000)).to.equal(0xff);
      expect(mem.readU16(0x1002)).to.equal(0xffff);
      expect(mem.readU32(0x1004)).to.equal(5);
      expect(mem.readU64(0x1008)).to.equal(MAX_U64);
    });

    it('work on the last bytes of a region and refuse one byte past it', () => {
      const mem = layout();
      mem.writeU64(0x40f8, 1n);
      expect(mem.readU64(0x40f8)).to.equal(1n);
      expect(mem.readU8(0x40ff)).to.equal(0);
      const accesses: [string, number, () => unknown][] = [
        ['readU8', 1, () => mem.readU8(0x4100)],
        ['readU16', 2, () => mem.readU16(0x40ff)],
        ['readU32', 4, () => mem.readU32(0x40fd)],
        ['readU64', 8, () => mem.readU64(0x40f9)],
        ['writeU8', 1, () => mem.writeU8(0x4100, 1)],
        ['writeU16', 2, () => mem.writeU16(0x40ff, 1)],
        ['writeU32', 4, () => mem.writeU32(0x40fd, 1)],
        ['writeU64', 8, () => mem.writeU64(0x40f9, 1n)],
      ];
      for (const [name, length, fn] of accesses) {
        const err = expectFault(fn, 'unmapped', new RegExp(`^${name} at 0x4[01]`));
        expect(err.length, name).to.equal(length);
      }
      expect(mem.readU64(0x40f8)).to.equal(1n, 'failed writes changed nothing');
      expect(mem.readU8(0x40ff)).to.equal(0);
    });

    it('refuse a multi-byte access across a region boundary, even between adjacent regions', () => {
      const mem = layout();
      // Typed accessors use one region: a u32 across low/high is still refused.
      expectFault(() => mem.readU32(0x1ffe), 'unmapped', /^readU32 at 0x1ffe, length 4:/);
      expectFault(() => mem.writeU64(0x2ffc, 1n), 'unmapped');
    });

    it('refuse addresses in a gap, below the first and above the last region', () => {
      const mem = layout();
      expectFault(() => mem.readU8(0x3000), 'unmapped');
      expectFault(() => mem.readU8(0x3fff), 'unmapped');
      expectFault(() => mem.readU8(0xfff), 'unmapped');
      expectFault(() => mem.readU8(0), 'unmapped');
      expectFault(() => mem.readU8(0x4100), 'unmapped');
      expectFault(() => new GuestMemory().readU8(0), 'unmapped');
    });
  });

  describe('errors', () => {
    it('carry gpa, length, reason and name the address in hex', () => {
      const mem = layout();
      const err = expectFault(() => mem.readU32(0x3000), 'unmapped');
      expect(err).to.be.instanceOf(Error);
      expect(err.name).to.equal('GuestMemoryError');
      expect(err.gpa).to.equal(0x3000);
      expect(err.length).to.equal(4);
      expect(err.message).to.equal('readU32 at 0x3000, length 4: range is not inside mapped memory');
      const big = expectFault(() => mem.view(0xffff_0000_0000n, 16), 'unmapped');
      expect(big.gpa).to.equal(0xffff_0000_0000n);
      expect(big.message).to.contain('0xffff00000000');
    });

    it('refuse negative, non-integer, NaN and infinite addresses', () => {
      const mem = layout();
      expectFault(() => mem.readU8(-1), 'negative', /at -0x1,/);
      expectFault(() => mem.readU8(-1n), 'negative', /at -0x1,/);
      expectFault(() => mem.readU8(4096.5), 'not-integer', /at 4096.5,/);
      expectFault(() => mem.readU8(NaN), 'not-integer', /at NaN,/);
      expectFault(() => mem.readU8(Infinity), 'not-integer');
      expectFault(() => mem.readU8(-Infinity), 'not-integer');
      expectFault(() => mem.readU8('4096' as unknown as number), 'not-integer');
    });

    it('refuse addresses beyond 64 bits and ranges wrapping past 2^64', () => {
      const mem = layout();
      expectFault(() => mem.readU8(1n << 64n), 'too-large', /0x10000000000000000/);
      expectFault(() => mem.readU8(2 ** 64), 'too-large');
      expectFault(() => mem.readU8(2 ** 70), 'too-large');
      expectFault(() => mem.readU8(MAX_U64), 'unmapped', /0xffffffffffffffff/);
      expectFault(() => mem.readU16(MAX_U64), 'wraps');
      expectFault(() => mem.readU64(MAX_U64 - 6n), 'wraps');
      expectFault(() => mem.readU64(MAX_U64 - 7n), 'unmapped');
      expectFault(() => mem.view(MAX_U64 - 15n, 17), 'wraps');
      expectFault(() => mem.view(2 ** 63, 2 ** 53 - 1), 'unmapped');
      expectFault(() => mem.write(MAX_U64, new Uint8Array(2)), 'wraps');
      expectFault(() => mem.fill(2 ** 64 - 2048, 4096, 0), 'wraps');
      // Large numbers that are not safe integers are still exact addresses: none is mapped.
      expectFault(() => mem.readU32(2 ** 53), 'unmapped');
      expectFault(() => mem.readU32(2 ** 53 + 2), 'unmapped');
    });

    it('never wrap an address modulo 2^64 onto a region at 0', () => {
      const mem = new GuestMemory();
      mem.addRegion(0, new ArrayBuffer(0x100));
      expectFault(() => mem.readU8(1n << 64n), 'too-large');
      expectFault(() => mem.readU8((1n << 64n) + 0x10n), 'too-large');
      expectFault(() => mem.readU8(2 ** 64 + 4096), 'too-large');
      expectFault(() => mem.readU8(-(1n << 64n) + 0x10n), 'negative');
      expectFault(() => mem.readU8(-0x10), 'negative');
      expectFault(() => mem.view(MAX_U64, 0x10), 'wraps');
      expectFault(() => mem.write(MAX_U64 - 3n, new Uint8Array(0x10)), 'wraps');
      expect(mem.isMapped(MAX_U64, 0x10)).to.equal(false);
      expect(mem.view(0, 0x100).every((b) => b === 0)).to.equal(true);
    });

    it('refuse bad lengths', () => {
      const mem = layout();
      expectFault(() => mem.view(0x1000, -1), 'bad-length', /length -1:/);
      expectFault(() => mem.view(0x1000, 1.5), 'bad-length');
      expectFault(() => mem.views(0x1000, NaN), 'bad-length');
      expectFault(() => mem.fill(0x1000, 2 ** 53, 0), 'bad-length');
      expectFault(() => mem.fill(0x1000, -3, 0), 'bad-length');
      expect(mem.isMapped(0x1000, -1)).to.equal(false);
      expect(mem.isMapped(0x1000, 0.5)).to.equal(false);
      expect(mem.tryView(0x1000, -1)).to.equal(undefined);
    });
  });

  describe('views', () => {
    it('view is zero-copy inside one region', () => {
      const mem = layout();
      const v = mem.view(0x1100, 16);
      expect(v.length).to.equal(16);
      v[0] = 0x77;
      expect(mem.readU8(0x1100)).to.equal(0x77);
      mem.writeU8(0x110f, 0x66);
      expect(v[15]).to.equal(0x66);
      expect(v.buffer).to.equal(mem.regions[0].bytes.buffer);
    });

    it('view refuses a range spanning adjacent regions, saying so', () => {
      const mem = layout();
      expectFault(() => mem.view(0x1ff8, 16), 'not-one-region', /spans more than one region/);
      expectFault(() => mem.view(0x2ff8, 16), 'unmapped');
      expect(mem.tryView(0x1ff8, 16)).to.equal(undefined);
    });

    it('tryView returns undefined for every kind of bad access and a view otherwise', () => {
      const mem = layout();
      for (const gpa of [-1, 0.5, NaN, 0x3000, 2 ** 64, MAX_U64, -1n, 1n << 64n]) {
        expect(mem.tryView(gpa, 1), String(gpa)).to.equal(undefined);
      }
      expect(mem.tryView(MAX_U64, 2)).to.equal(undefined);
      const v = mem.tryView(0x40f0n, 16);
      expect(v).to.be.instanceOf(Uint8Array);
      expect(v!.length).to.equal(16);
    });

    it('zero-length accesses are valid inside a region or at its end, not elsewhere', () => {
      const mem = layout();
      expect(mem.view(0x1000, 0).length).to.equal(0);
      expect(mem.view(0x4100, 0).length).to.equal(0);
      expect(mem.views(0x3000, 0)).to.deep.equal([]);
      expect(mem.isMapped(0x2000, 0)).to.equal(true);
      expect(mem.isMapped(0x3001, 0)).to.equal(false);
      expectFault(() => mem.view(0x3001, 0), 'unmapped');
      expectFault(() => mem.read(0x5000, new Uint8Array(0)), 'unmapped');
      expect(mem.tryView(0x4101, 0)).to.equal(undefined);
      mem.write(0x4100, new Uint8Array(0));
    });

    it('views spans adjacent regions with one view per region', () => {
      const mem = layout();
      mem.addRegion(0x3000, new ArrayBuffer(0x10), 'mid');
      const vs = mem.views(0x1ffc, 0x1014);
      expect(vs.map((v) => v.length)).to.deep.equal([4, 0x1000, 0x10]);
      expect(vs[0].buffer).to.equal(mem.regions[0].bytes.buffer);
      expect(vs[2].buffer).to.equal(mem.regions[2].bytes.buffer);
      vs[0][3] = 1;
      vs[1][0] = 2;
      vs[2][15] = 3;
      expect(mem.readU8(0x1fff)).to.equal(1);
      expect(mem.readU8(0x2000)).to.equal(2);
      expect(mem.readU8(0x300f)).to.equal(3);
      expect(mem.views(0x2010, 8).map((v) => v.length)).to.deep.equal([8]);
      expect(mem.views(0x2000, 0x1000).map((v) => v.length)).to.deep.equal([0x1000]);
    });

    it('views refuses a range running into a gap', () => {
      const mem = layout();
      expectFault(() => mem.views(0x1ffc, 0x1005), 'unmapped', /^views at 0x1ffc, length 4101:/);
      expectFault(() => mem.views(0x3ffc, 8), 'unmapped');
      expect(mem.isMapped(0x1ffc, 0x1004)).to.equal(true);
      expect(mem.isMapped(0x1ffc, 0x1005)).to.equal(false);
      expect(mem.isMapped(0x1000, 0x2000)).to.equal(true);
    });
  });

  describe('copy helpers', () => {
    it('write and read span adjacent regions', () => {
      const mem = layout();
      const src = Uint8Array.from({ length: 64 }, (_, i) => i + 1);
      mem.write(0x1fe0, src);
      expect(mem.readU8(0x1fe0)).to.equal(1);
      expect(mem.readU8(0x2000)).to.equal(33);
      const dest = new Uint8Array(64);
      mem.read(0x1fe0, dest);
      expect(dest).to.deep.equal(src);
      const small = new Uint8Array(4);
      mem.read(0x2000n, small);
      expect([...small]).to.deep.equal([33, 34, 35, 36]);
    });

    it('write into a gap writes nothing at all, read into a gap leaves dest untouched', () => {
      const mem = layout();
      expectFault(() => mem.write(0x2ff0, new Uint8Array(32).fill(9)), 'unmapped', /^write at 0x2ff0/);
      expect(mem.view(0x2ff0, 16).every((b) => b === 0)).to.equal(true);
      const dest = new Uint8Array(32).fill(5);
      expectFault(() => mem.read(0x2ff0, dest), 'unmapped', /^read at/);
      expect(dest.every((b) => b === 5)).to.equal(true);
    });

    it('fill sets bytes across regions, modulo 256, and nothing on error', () => {
      const mem = layout();
      mem.fill(0x1ffe, 4, 0x1ab);
      expect([...mem.view(0x1ffd, 1), ...mem.view(0x1ffe, 2), ...mem.view(0x2000, 3)]).to.deep.equal([
        0, 0xab, 0xab, 0xab, 0xab, 0,
      ]);
      mem.fill(0x4000, 0x100, 0xcc);
      expect(mem.view(0x4000, 0x100).every((b) => b === 0xcc)).to.equal(true);
      expectFault(() => mem.fill(0x4000, 0x101, 0), 'unmapped', /^fill at 0x4000, length 257/);
      expect(mem.readU8(0x4000)).to.equal(0xcc);
    });

    it('read may copy from guest memory into guest memory', () => {
      const mem = layout();
      mem.write(0x1000, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8));
      mem.read(0x1000, mem.view(0x1002, 6));
      expect([...mem.view(0x1000, 8)]).to.deep.equal([1, 2, 1, 2, 3, 4, 5, 6]);
    });
  });

  describe('lookup cache', () => {
    it('never answers from the cached region for an address outside it', () => {
      const mem = layout();
      mem.writeU8(0x1000, 1); // cache: low
      mem.writeU8(0x2000, 2); // cache: high
      expect(mem.readU8(0x1000)).to.equal(1);
      expect(mem.readU8(0x2000)).to.equal(2);
      expect(mem.readU8(0x1fff)).to.equal(0);
      expectFault(() => mem.readU16(0x2fff), 'unmapped');
      expect(mem.readU8(0x4000)).to.equal(0);
    });
  });
});
