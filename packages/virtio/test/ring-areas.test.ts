/**
 * AvailRing and UsedRing on their own (the device's reads of the driver area and writes of the
 * device area): index wrap-around, ring slots for sizes that are not powers of two, the avail.idx
 * jump check, element-then-index publication and the signalled_used bookkeeping behind EVENT_IDX.
 */
import { expect } from 'chai';
import { AvailRing } from '../src/ring/avail-ring.js';
import { availRingSize, usedEventOffset, usedRingSize, availEventOffset } from '../src/ring/layout.js';
import { UsedRing } from '../src/ring/used-ring.js';

function availOf(size: number): { ring: AvailRing; view: DataView } {
  const view = new DataView(new ArrayBuffer(availRingSize(size)));
  const ring = new AvailRing();
  ring.map(view, size);
  return { ring, view };
}

function usedOf(size: number): { ring: UsedRing; view: DataView } {
  const view = new DataView(new ArrayBuffer(usedRingSize(size)));
  const ring = new UsedRing();
  ring.map(view, size);
  return { ring, view };
}

describe('AvailRing', () => {
  it('reads avail.idx once per fetch and takes heads in ring order across the 16-bit wrap', () => {
    const { ring, view } = availOf(4);
    ring.restore(0xfffe);
    // Entries 0xfffe, 0xffff, 0x0000 sit in slots 2, 3, 0.
    view.setUint16(4 + 2 * 2, 7, true);
    view.setUint16(4 + 2 * 3, 8, true);
    view.setUint16(4 + 2 * 0, 9, true);
    view.setUint16(2, 1, true);
    expect(ring.fetchIdx()).to.equal(true);
    expect(ring.shadow).to.equal(1);
    // A later write of avail.idx is not seen until the next fetch.
    view.setUint16(2, 2, true);
    expect([ring.takeHead(), ring.takeHead(), ring.takeHead()]).to.deep.equal([7, 8, 9]);
    expect(ring.last).to.equal(1);
    expect(ring.shadow).to.equal(1);
  });

  it('uses index % size for a size that is not a power of two', () => {
    const { ring, view } = availOf(3);
    ring.restore(4);
    view.setUint16(4 + 2 * 1, 5, true);
    view.setUint16(2, 5, true);
    expect(ring.fetchIdx()).to.equal(true);
    expect(ring.takeHead()).to.equal(5);
  });

  it('refuses an avail.idx more than size entries ahead and keeps the old shadow', () => {
    const { ring, view } = availOf(4);
    view.setUint16(2, 5, true);
    expect(ring.fetchIdx()).to.equal(false);
    expect(ring.shadow).to.equal(0);
    view.setUint16(2, 4, true);
    expect(ring.fetchIdx()).to.equal(true);
  });

  it('reads flags and used_event where the layout puts them', () => {
    const { ring, view } = availOf(8);
    view.setUint16(0, 1, true);
    view.setUint16(usedEventOffset(8), 0x1234, true);
    expect(ring.flags()).to.equal(1);
    expect(ring.usedEvent()).to.equal(0x1234);
  });
});

describe('UsedRing', () => {
  it('writes elements after idx without touching used.idx; flush publishes them with one write', () => {
    const { ring, view } = usedOf(4);
    ring.restore(0xffff);
    ring.write(0, 3, 100);
    ring.write(1, 1, 0x1_0000_0001);
    expect(view.getUint16(2, true)).to.equal(0);
    // Slot 3 then slot 0 (0xffff, 0x0000); the length is truncated to 32 bits as the ring field.
    expect([view.getUint32(4 + 8 * 3, true), view.getUint32(8 + 8 * 3, true)]).to.deep.equal([3, 100]);
    expect([view.getUint32(4, true), view.getUint32(8, true)]).to.deep.equal([1, 1]);
    ring.flush(2);
    expect(ring.idx).to.equal(1);
    expect(view.getUint16(2, true)).to.equal(1);
  });

  it('needsEvent: always true first, then only when used_event lies in the newly published window', () => {
    const { ring } = usedOf(8);
    ring.flush(1);
    expect(ring.needsEvent(100)).to.equal(true);
    ring.flush(2); // published 1..2 (new idx 3)
    expect(ring.needsEvent(0)).to.equal(false);
    ring.flush(2); // published 3..4 (new idx 5)
    expect(ring.needsEvent(4)).to.equal(true);
    ring.flush(1); // published 5 (new idx 6)
    expect(ring.needsEvent(4)).to.equal(false);
  });

  it('forgets the signalled index once a flush passes it by a whole wrap, and after restore', () => {
    const { ring } = usedOf(8);
    ring.flush(1);
    expect(ring.needsEvent(0)).to.equal(true);
    // 0x10000 entries later the old signalled value is meaningless: the next decision is true.
    for (let i = 0; i < 0x10000 / 8; i++) ring.flush(8);
    expect(ring.needsEvent(0x7777)).to.equal(true);
    ring.restore(3);
    expect(ring.needsEvent(0x7777)).to.equal(true);
  });

  it('sets and clears VRING_USED_F_NO_NOTIFY without touching other flag bits; writes avail_event', () => {
    const { ring, view } = usedOf(4);
    view.setUint16(0, 0x8000, true);
    ring.setNoNotify(true);
    expect(view.getUint16(0, true)).to.equal(0x8001);
    ring.setNoNotify(false);
    expect(view.getUint16(0, true)).to.equal(0x8000);
    ring.setAvailEvent(0xabcd);
    expect(view.getUint16(availEventOffset(4), true)).to.equal(0xabcd);
  });
});
