import { expect } from 'chai';
import { openSync, readdirSync } from 'node:fs';
import { GuestMemory } from '@vmkit/core';
import {
  closeFd,
  createMemfd,
  native,
  OsError,
  VhostMemoryTable,
  VhostUserProtocolError,
  type MemoryRegionDescription,
} from '../src/index.js';
import { requireAddon, settledCounts } from './helpers.js';

const KiB = 1024;
const QVA = 0x7f00_0000_0000n;

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

function region(gpa: number, size: number, offset: number, qva: bigint): MemoryRegionDescription {
  return {
    guestPhysAddr: BigInt(gpa),
    memorySize: BigInt(size),
    userspaceAddr: qva,
    mmapOffset: BigInt(offset),
  };
}

/** A second descriptor for the same memfd (the table closes the descriptors it is given). */
function reopen(fd: number): number {
  return openSync(`/proc/self/fd/${fd}`, 'r+');
}

describe('vhost-user back-end: the memory table', function () {
  before(function () {
    requireAddon(this);
  });

  it('translates QEMU-virtual addresses through the region holding the whole range', () => {
    const fd = OsError.check(createMemfd('vu-table', 512 * KiB), 'memfd');
    const table = VhostMemoryTable.map(
      [region(0, 128 * KiB, 0, QVA), region(0x1_0000_0000, 256 * KiB, 256 * KiB, QVA + 0x10_0000n)],
      [fd, reopen(fd)],
    );
    try {
      expect(table.translate(QVA, 1)).to.equal(0);
      expect(table.translate(QVA + 0x1fff0n, 16)).to.equal(0x1fff0);
      expect(table.translate(QVA + 0x1fff0n, 17)).to.equal(undefined);
      expect(table.translate(QVA + 0x20000n, 1)).to.equal(undefined);
      expect(table.translate(QVA - 1n, 1)).to.equal(undefined);
      expect(table.translate(QVA + 0x10_0000n + 0x100n, 0x100)).to.equal(0x1_0000_0100);
      expect(table.totalSize).to.equal(384 * KiB);
    } finally {
      table.release(true);
    }
  });

  it('maps each region at its file offset and closes the descriptors it was given', () => {
    const size = 256 * KiB;
    const fd = OsError.check(createMemfd('vu-table', size), 'memfd');
    const fdsBefore = openFdCount();
    const writer = VhostMemoryTable.map([region(0, size, 0, QVA)], [reopen(fd)]);
    expect(openFdCount()).to.equal(fdsBefore);
    const all = new GuestMemory();
    writer.install(all);
    for (let i = 0; i < size; i += 4) all.writeU32(i, i);

    const table = VhostMemoryTable.map(
      [region(0x1000, 64 * KiB, 0x8000, QVA), region(0x40000, 32 * KiB, 0x30000, QVA + 0x40000n)],
      [reopen(fd), reopen(fd)],
    );
    expect(openFdCount()).to.equal(fdsBefore);
    const memory = new GuestMemory();
    table.install(memory);
    expect(memory.readU32(0x1000)).to.equal(0x8000);
    expect(memory.readU32(0x40000 + 0x100)).to.equal(0x30100);
    table.uninstall(memory);
    expect(memory.regions).to.have.length(0);
    table.release(true);
    writer.uninstall(all);
    writer.release(true);
    closeFd(fd);
  });

  it('splits a region larger than the mapping chunk into adjacent GuestMemory regions', () => {
    const size = 256 * KiB;
    const fd = OsError.check(createMemfd('vu-table', size), 'memfd');
    const table = VhostMemoryTable.map([region(0x10000, size, 0, QVA)], [fd], 64 * KiB);
    const memory = new GuestMemory();
    table.install(memory);
    try {
      expect(memory.regions.map((r) => [r.gpa, r.size])).to.deep.equal([
        [0x10000, 64 * KiB],
        [0x20000, 64 * KiB],
        [0x30000, 64 * KiB],
        [0x40000, 64 * KiB],
      ]);
      // A buffer across a seam is read and written whole.
      memory.write(0x1fffe, Uint8Array.of(1, 2, 3, 4));
      const back = new Uint8Array(4);
      memory.read(0x1fffe, back);
      expect(Array.from(back)).to.deep.equal([1, 2, 3, 4]);
      expect(memory.tryView(0x1fffe, 4)).to.equal(undefined);
      expect(table.translate(QVA + 0xfffen, 4)).to.equal(0x1fffe);
    } finally {
      table.uninstall(memory);
      table.release(true);
    }
  });

  it('a region that cannot be mapped unmaps the ones before it and closes every descriptor', async () => {
    const base = await settledCounts();
    const fd = OsError.check(createMemfd('vu-table', 128 * KiB), 'memfd');
    const fdsBefore = openFdCount();
    const second = reopen(fd);
    const third = reopen(fd);
    expect(() =>
      VhostMemoryTable.map(
        [
          region(0, 64 * KiB, 0, QVA),
          region(0x20000, 64 * KiB, 64 * KiB, QVA + 0x20000n),
          region(0x40000, 64 * KiB, 96 * KiB, QVA + 0x40000n),
        ],
        [reopen(fd), second, third],
      ),
    ).to.throw(
      VhostUserProtocolError,
      /memory region 2 \(gpa 0x40000, size 0x10000\): cannot map 0x10000 bytes at file offset 0x18000/,
    );
    expect(openFdCount()).to.equal(fdsBefore);
    expect(native.debug_counts().mappings).to.equal(base.mappings);
    closeFd(fd);
  });

  it('release(false) leaves the mapping to the garbage collector: views held by a device stay valid', () => {
    const fd = OsError.check(createMemfd('vu-table', 64 * KiB), 'memfd');
    const table = VhostMemoryTable.map([region(0, 64 * KiB, 0, QVA)], [fd]);
    const memory = new GuestMemory();
    table.install(memory);
    const view = memory.view(0x100, 16);
    table.uninstall(memory);
    table.release(false);
    view[0] = 7;
    expect(view.length).to.equal(16);
    expect(table.regions[0].mappings[0].mapped).to.equal(true);
    table.release(true);
    expect(view.length).to.equal(0);
  });
});
