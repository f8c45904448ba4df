import { Errno, GuestMemory } from '@vmkit/core';
import { expect } from 'chai';
import {
  ESRCH,
  GntStatus,
  InProcessXen,
  XEN_PAGE_SIZE,
  type XenGrantCopySegment,
  type XenGrantMapping,
} from '../src/index.js';
import { newXen } from './helpers.js';

function seg(
  domid: number,
  ref: number,
  offset: number,
  local: Uint8Array,
  length = local.length,
): XenGrantCopySegment {
  return { domid, ref, offset, length, local, status: 99 };
}

describe('xen-bus: grant tables (InProcessXen)', () => {
  it('grant copy from and to a granted page', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    guest.memory.write(5 * XEN_PAGE_SIZE + 512, new Uint8Array([1, 2, 3, 4]));
    const ref = guest.grantAccess(5, 0);
    expect(ref).to.be.greaterThan(0);

    const out = new Uint8Array(4);
    const s = seg(1, ref, 512, out);
    expect(xen.grantTables.copy('from-guest', [s])).to.equal(GntStatus.okay);
    expect(s.status).to.equal(GntStatus.okay);
    expect([...out]).to.deep.equal([1, 2, 3, 4]);

    const s2 = seg(1, ref, 4092, new Uint8Array([9, 8, 7, 6, 5]), 4);
    expect(xen.grantTables.copy('to-guest', [s2])).to.equal(0);
    const back = new Uint8Array(5);
    guest.memory.read(5 * XEN_PAGE_SIZE + 4092, back.subarray(0, 4));
    expect([...back.subarray(0, 4)]).to.deep.equal([9, 8, 7, 6]);
  });

  it('refuses a copy into a read-only grant, but allows reading it', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    guest.memory.fill(3 * XEN_PAGE_SIZE, XEN_PAGE_SIZE, 0xaa);
    const ref = guest.grantAccess(3, 0, true);
    const data = new Uint8Array(16).fill(0x55);
    const s = seg(1, ref, 0, data);
    expect(xen.grantTables.copy('to-guest', [s])).to.equal(GntStatus.generalError);
    expect(s.status).to.equal(GntStatus.generalError);
    expect(guest.memory.readU8(3 * XEN_PAGE_SIZE)).to.equal(0xaa); // untouched
    const r = seg(1, ref, 0, new Uint8Array(16));
    expect(xen.grantTables.copy('from-guest', [r])).to.equal(0);
    expect(r.local[15]).to.equal(0xaa);
  });

  it('refuses ungranted, revoked, out-of-range refs, refs granted to another domain, and bad domains', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    xen.createDomain({ domid: 2 });
    const buf = new Uint8Array(8);
    const toOther = guest.grantAccess(4, 2);
    const revoked = guest.grantAccess(4, 0);
    expect(guest.revokeAccess(revoked)).to.equal(0);
    const segs = [
      seg(1, 100, 0, buf), // never granted
      seg(1, revoked, 0, buf),
      seg(1, 1 << 30, 0, buf), // beyond the table
      seg(1, toOther, 0, buf),
      seg(9, 8, 0, buf), // no such domain
    ];
    expect(xen.grantTables.copy('from-guest', segs)).to.equal(GntStatus.generalError);
    expect(segs.map((s) => s.status)).to.deep.equal([
      GntStatus.generalError,
      GntStatus.generalError,
      GntStatus.badGntref,
      GntStatus.generalError,
      GntStatus.badDomain,
    ]);
    expect(guest.revokeAccess(revoked)).to.equal(-Errno.EINVAL);
  });

  it('refuses segments crossing the page, short local buffers, and frames outside guest memory', () => {
    const { xen } = newXen({ pages: 4 });
    const guest = xen.domain(1);
    const ref = guest.grantAccess(1, 0);
    const bad = guest.grantAccess(1000, 0); // Xen checks the frame on use, not on grant
    const segs = [
      seg(1, ref, 4000, new Uint8Array(200)),
      seg(1, ref, 0, new Uint8Array(4), 8),
      seg(1, ref, -1, new Uint8Array(4)),
      seg(1, bad, 0, new Uint8Array(4)),
      seg(1, ref, 0, new Uint8Array(4)),
    ];
    expect(xen.grantTables.copy('to-guest', segs)).to.equal(GntStatus.badCopyArg);
    expect(segs.map((s) => s.status)).to.deep.equal([
      GntStatus.badCopyArg,
      GntStatus.badCopyArg,
      GntStatus.badCopyArg,
      GntStatus.badPage,
      GntStatus.okay,
    ]);
  });

  it('copies only the first `count` segments', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const ref = guest.grantAccess(2, 0);
    const segs = [seg(1, ref, 0, new Uint8Array(4)), seg(1, 12345, 0, new Uint8Array(4))];
    expect(xen.grantTables.copy('from-guest', segs, 1)).to.equal(0);
    expect(segs[1].status).to.equal(99);
  });

  it('maps a single page writable, aliasing guest memory', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const ref = guest.grantAccess(7, 0);
    const m = xen.grantTables.mapRefs(1, [ref], true) as XenGrantMapping;
    expect(m).to.not.be.a('number');
    expect(m.bytes.length).to.equal(XEN_PAGE_SIZE);
    m.bytes[10] = 0x42;
    expect(guest.memory.readU8(7 * XEN_PAGE_SIZE + 10)).to.equal(0x42);
    guest.memory.writeU8(7 * XEN_PAGE_SIZE + 11, 0x43);
    expect(m.bytes[11]).to.equal(0x43);
    expect(guest.isGrantMapped(ref)).to.equal(true);
    expect(guest.revokeAccess(ref)).to.equal(-Errno.EBUSY); // in use
    expect(xen.grantTables.unmap(m)).to.equal(0);
    expect(m.unmapped).to.equal(true);
    expect(xen.grantTables.unmap(m)).to.equal(-Errno.EINVAL);
    expect(guest.revokeAccess(ref)).to.equal(0);
  });

  it('maps a multi-page ring of scattered frames as ONE contiguous buffer shared with the guest', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const frames = [9, 3, 20, 4];
    frames.forEach((f, i) => guest.memory.fill(f * XEN_PAGE_SIZE, XEN_PAGE_SIZE, 0x10 + i));
    const refs = frames.map((f) => guest.grantAccess(f, 0));
    const m = xen.grantTables.mapRefs(1, refs, true) as XenGrantMapping;
    expect(m).to.not.be.a('number');
    expect(m.bytes.length).to.equal(4 * XEN_PAGE_SIZE);
    expect(m.bytes.byteOffset).to.equal(0);
    expect(m.bytes.buffer.byteLength).to.equal(4 * XEN_PAGE_SIZE); // one buffer
    frames.forEach((_f, i) => expect(m.bytes[i * XEN_PAGE_SIZE + 100]).to.equal(0x10 + i));
    // Backend writes appear in the guest's frames and guest writes in the mapping.
    m.bytes[2 * XEN_PAGE_SIZE + 7] = 0xee;
    expect(guest.memory.readU8(20 * XEN_PAGE_SIZE + 7)).to.equal(0xee);
    guest.memory.writeU32(4 * XEN_PAGE_SIZE + 4092, 0xdeadbeef);
    expect(new DataView(m.bytes.buffer).getUint32(3 * XEN_PAGE_SIZE + 4092, true)).to.equal(0xdeadbeef);
    // Neighbouring frames are untouched and still guest memory.
    expect(guest.memory.readU8(8 * XEN_PAGE_SIZE)).to.equal(0);
    guest.memory.writeU8(10 * XEN_PAGE_SIZE, 1);
    expect(guest.memory.readU8(10 * XEN_PAGE_SIZE)).to.equal(1);
    expect(xen.grantTables.unmap(m)).to.equal(0);
  });

  it('maps adjacent frames without moving them (zero-copy view of guest memory)', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const ram = guest.memory.regions[0].bytes;
    const refs = [11, 12].map((f) => guest.grantAccess(f, 0));
    const m = xen.grantTables.mapRefs(1, refs, true) as XenGrantMapping;
    expect(m.bytes.buffer).to.equal(ram.buffer);
    expect(guest.memory.regions.length).to.equal(1);
    xen.grantTables.unmap(m);
  });

  it('refuses a writable map of a read-only grant, bad refs, unknown domains and a page listed twice', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const ro = guest.grantAccess(2, 0, true);
    const rw = guest.grantAccess(3, 0);
    expect(xen.grantTables.mapRefs(1, [ro], true)).to.equal(-Errno.EACCES);
    const m = xen.grantTables.mapRefs(1, [ro], false);
    expect(m).to.not.be.a('number');
    expect(xen.grantTables.mapRefs(1, [rw, 4444], true)).to.equal(-Errno.EINVAL);
    expect(xen.grantTables.mapRefs(1, [], true)).to.equal(-Errno.EINVAL);
    expect(xen.grantTables.mapRefs(5, [rw], true)).to.equal(-ESRCH);
    const again = guest.grantAccess(3, 0);
    expect(xen.grantTables.mapRefs(1, [rw, again], true)).to.equal(-Errno.EINVAL);
    // A failed map leaves nothing mapped.
    expect(guest.isGrantMapped(rw)).to.equal(false);
    const bad = guest.grantAccess(100000, 0);
    expect(xen.grantTables.mapRefs(1, [bad], true)).to.equal(-Errno.EFAULT);
  });

  it('refuses to re-lay-out frames another live mapping holds (-EBUSY)', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const a = [5, 6].map((f) => guest.grantAccess(f, 0));
    const m1 = xen.grantTables.mapRefs(1, a, true) as XenGrantMapping;
    const b = [6, 2].map((f) => guest.grantAccess(f, 0));
    expect(xen.grantTables.mapRefs(1, b, true)).to.equal(-Errno.EBUSY);
    xen.grantTables.unmap(m1);
    const m2 = xen.grantTables.mapRefs(1, b, true);
    expect(m2).to.not.be.a('number');
  });

  it('enforces the handle limit (setMaxGrants), per handle', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const h = xen.grantTables.open();
    expect(h.setMaxGrants(2)).to.equal(0);
    expect(h.setMaxGrants(0)).to.equal(-Errno.EINVAL);
    expect(h.maxGrants).to.equal(2);
    const refs = [1, 2, 3].map((f) => guest.grantAccess(f, 0));
    expect(h.mapRefs(1, refs, true)).to.equal(-Errno.ENOMEM);
    const m = h.mapRefs(1, refs.slice(0, 2), true) as XenGrantMapping;
    expect(h.mapRefs(1, [refs[2]], true)).to.equal(-Errno.ENOMEM);
    // Another handle has its own limit.
    expect(xen.grantTables.mapRefs(1, [refs[2]], true)).to.not.be.a('number');
    // close() unmaps what the handle still holds.
    h.close();
    expect(m.unmapped).to.equal(true);
    expect(guest.isGrantMapped(refs[0])).to.equal(false);
  });

  it('the guest grant table has a fixed size', () => {
    const xen = new InProcessXen({ maxGrantFrames: 1, context: newXen().ctx });
    const guest = xen.createDomain({ pages: 2 });
    let last = 0;
    for (let i = 0; i < 512 - 8; i++) last = guest.grantAccess(0, 0);
    expect(last).to.equal(511);
    expect(guest.grantAccess(0, 0)).to.equal(-Errno.ENOSPC);
    expect(guest.grantAccess(-1, 0)).to.equal(-Errno.EINVAL);
    expect(guest.grantsInUse).to.equal(504);
  });

  it('foreign memory: dom0 maps guest frames; unprivileged domains may not', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    guest.memory.writeU8(2 * XEN_PAGE_SIZE, 0x77);
    const m = xen.foreignMemory.map(1, [2], true);
    if (typeof m === 'number') throw new Error(`map failed ${m}`);
    expect(m.bytes[0]).to.equal(0x77);
    expect(xen.foreignMemory.unmap(m)).to.equal(0);
    expect(xen.foreignMemory.unmap(m)).to.equal(-Errno.EINVAL);
    expect(xen.foreignMemory.map(1, [999], true)).to.equal(-Errno.EFAULT);
    expect(xen.foreignMemory.map(3, [1], true)).to.equal(-ESRCH);
    const asGuest = xen.backendInterfaces(1).foreignMemory;
    expect(asGuest.map(1, [2], true)).to.equal(-Errno.EPERM);
  });

  it('a domain can be given existing GuestMemory (SharedArrayBuffer re-backing stays shared)', () => {
    const { xen } = newXen();
    const memory = new GuestMemory();
    memory.addRegion(0, new SharedArrayBuffer(8 * XEN_PAGE_SIZE));
    const guest = xen.createDomain({ memory });
    const refs = [6, 1].map((f) => guest.grantAccess(f, 0));
    const m = xen.grantTables.mapRefs(guest.domid, refs, true) as XenGrantMapping;
    expect(m.bytes.buffer).to.be.instanceOf(SharedArrayBuffer);
  });
});
