import { expect } from 'chai';
import {
  availEventOffset,
  availRingSize,
  descTableSize,
  legacyVringLayout,
  usedEventOffset,
  usedRingSize,
  vringNeedEvent,
} from '../src/index.js';

describe('split ring layout (abi.md §4.1-4.3)', () => {
  it('legacy vring_size and offsets for N = 16, 128, 256 with 4096 alignment', () => {
    const rows: [number, number, number, number, number, number][] = [
      [16, 4230, 256, 292, 4096, 4228],
      [128, 5126, 2048, 2308, 4096, 5124],
      [256, 10246, 4096, 4612, 8192, 10244],
    ];
    for (const [n, size, avail, usedEvent, used, availEvent] of rows) {
      const l = legacyVringLayout(0, n, 4096);
      expect(
        [l.size, l.avail, l.avail + usedEventOffset(n), l.used, l.used + availEventOffset(n)],
        `N=${n}`,
      ).to.deep.equal([size, avail, usedEvent, used, availEvent]);
    }
  });

  it('legacy layout is relative to its base', () => {
    const l = legacyVringLayout(0x40000, 16, 4096);
    expect([l.desc, l.avail, l.used]).to.deep.equal([0x40000, 0x40100, 0x41000]);
  });

  it('VIRTIO 1.0 part sizes: N=16: 256/38/134, N=128: 2048/262/1030, N=256: 4096/518/2054', () => {
    expect([descTableSize(16), availRingSize(16), usedRingSize(16)]).to.deep.equal([256, 38, 134]);
    expect([descTableSize(128), availRingSize(128), usedRingSize(128)]).to.deep.equal([2048, 262, 1030]);
    expect([descTableSize(256), availRingSize(256), usedRingSize(256)]).to.deep.equal([4096, 518, 2054]);
  });

  it('vring_need_event(65535, 0, 65535) is true and (60000, 10, 65000) is false', () => {
    expect(vringNeedEvent(65535, 0, 65535)).to.equal(true);
    expect(vringNeedEvent(60000, 10, 65000)).to.equal(false);
  });

  it('vring_need_event is true iff old <= event < new modulo 2^16', () => {
    for (const [event, newIdx, old] of [
      [5, 6, 5],
      [5, 10, 0],
      [0, 1, 65535],
      [65534, 2, 65530],
    ] as const) {
      expect(vringNeedEvent(event, newIdx, old), `${event},${newIdx},${old}`).to.equal(true);
    }
    for (const [event, newIdx, old] of [
      [5, 5, 0],
      [4, 10, 5],
      [2, 2, 65530],
      [7, 7, 7],
    ] as const) {
      expect(vringNeedEvent(event, newIdx, old), `${event},${newIdx},${old}`).to.equal(false);
    }
  });
});
