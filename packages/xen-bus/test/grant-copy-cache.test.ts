import { expect } from 'chai';
import { GntStatus, XEN_PAGE_SIZE, type XenGrantCopySegment, type XenGrantMapping } from '../src/index.js';
import { newXen } from './helpers.js';

function seg(ref: number, local: Uint8Array, offset = 0): XenGrantCopySegment {
  return { domid: 1, ref, offset, length: local.length, local, status: 99 };
}

// Grant copy caches each grant entry's frame bytes for speed; these prove the cache never serves
// stale memory after the frame is re-laid-out for a mapping, or after a revoke and regrant.
describe('xen-bus: grant-copy frame cache', () => {
  it('follows a frame that a multi-page mapping moved into a new contiguous buffer', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const r9 = guest.grantAccess(9, 0);
    expect(xen.grantTables.copy('to-guest', [seg(r9, new Uint8Array(4096).fill(1))])).to.equal(0);
    // Frames 9 and 3 are not adjacent: mapping them as one ring moves frame 9's backing.
    const r3 = guest.grantAccess(3, 0);
    const mapped = xen.grantTables.mapRefs(1, [r9, r3], true);
    expect(mapped).to.not.be.a('number');
    const m = mapped as XenGrantMapping;
    expect(xen.grantTables.copy('to-guest', [seg(r9, new Uint8Array(4096).fill(7))])).to.equal(0);
    expect(m.bytes[100]).to.equal(7);
    expect(guest.memory.readU8(9 * XEN_PAGE_SIZE + 100)).to.equal(7);
    m.bytes[200] = 0x55;
    const out = new Uint8Array(8);
    expect(xen.grantTables.copy('from-guest', [seg(r9, out, 196)])).to.equal(0);
    expect(out[4]).to.equal(0x55);
    xen.grantTables.unmap(m);
  });

  it('a revoked then re-granted ref uses the new grant (frame and read-only flag), not the cached one', () => {
    const { xen } = newXen();
    const guest = xen.domain(1);
    const ref = guest.grantAccess(9, 0);
    expect(xen.grantTables.copy('to-guest', [seg(ref, new Uint8Array(4096))])).to.equal(0);
    expect(guest.revokeAccess(ref)).to.equal(0);
    expect(xen.grantTables.copy('to-guest', [seg(ref, new Uint8Array(4096))])).to.equal(
      GntStatus.generalError,
    );
    const again = guest.grantAccess(11, 0, true);
    expect(again).to.equal(ref);
    expect(xen.grantTables.copy('to-guest', [seg(again, new Uint8Array(4096))])).to.equal(
      GntStatus.generalError,
    );
    guest.memory.writeU8(11 * XEN_PAGE_SIZE + 5, 0x42);
    const out = new Uint8Array(4096);
    expect(xen.grantTables.copy('from-guest', [seg(again, out)])).to.equal(0);
    expect(out[5]).to.equal(0x42);
  });
});
