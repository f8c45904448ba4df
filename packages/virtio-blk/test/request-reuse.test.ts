/**
 * Per-request work the device skips when a guest re-offers a chain unchanged: the parsed layout
 * (status byte, used length, header view, data vector) of the request that held the chain last,
 * the capacity asked of the BlockBackend, and the used-ring index written once per batch. These
 * tests prove each shortcut gives way as soon as what it stands for changes.
 */
import { expect } from 'chai';
import { BlockAcctType as A } from '@vmkit/block-layer';
import { VringDescFlag as D } from '@vmkit/virtio';
import type { GuestVirtqueue } from '@vmkit/virtio/testing';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { VirtioBlkRequestPool, type VirtioBlkRequest } from '../src/request.js';
import type { VirtioBlkIo } from '../src/io.js';
import { VirtioBlkLoad } from '../src/testing/index.js';
import { makeRig, pattern, until, type Rig } from './helpers/rig.js';

/** A read chain built once from raw descriptors: header, data, status (descriptors 40, 41, 42). */
interface FixedChain {
  readonly head: number;
  readonly hdr: number;
  readonly data: number;
  readonly status: number;
  readonly spare: number;
}

function fixedReadChain(rig: Rig): FixedChain {
  const a = rig.driver.allocator;
  const c = {
    head: 40,
    hdr: a.alloc(16, 16),
    data: a.alloc(512, 512),
    status: a.alloc(1, 1),
    spare: a.alloc(512, 512),
  };
  const q = rig.driver.queue;
  q.writeDescriptor(40, { addr: c.hdr, len: 16, flags: D.NEXT, next: 41 });
  q.writeDescriptor(41, { addr: c.data, len: 512, flags: D.NEXT | D.WRITE, next: 42 });
  q.writeDescriptor(42, { addr: c.status, len: 1, flags: D.WRITE, next: 0 });
  return c;
}

/** Writes the header, offers the head, waits for its used entry; returns the status byte. */
async function offer(
  rig: Rig,
  c: FixedChain,
  type: number,
  sector: number,
  statusAt = c.status,
): Promise<number> {
  const q: GuestVirtqueue = rig.driver.queue;
  rig.memory.writeU32(c.hdr, type);
  rig.memory.writeU32(c.hdr + 4, 0);
  rig.memory.writeU64(c.hdr + 8, BigInt(sector));
  rig.memory.writeU8(statusAt, 0xee);
  const before = q.lastUsedIdx;
  q.addHead(c.head);
  q.publish();
  q.kick();
  await until(() => q.pendingUsed > 0);
  const used = q.reap();
  expect(used.map((u) => u.id)).to.deep.equal([c.head]);
  expect(q.lastUsedIdx).to.equal((before + 1) & 0xffff);
  return rig.memory.readU8(statusAt);
}

describe('virtio-blk: requests re-offered with the same chain', () => {
  let rig: Rig;
  beforeEach(async () => {
    rig = await makeRig();
    rig.driver.reapOnInterrupt = false;
    for (let s = 0; s < 4; s++)
      expect((await rig.driver.write(s, pattern(512, s + 1))).status).to.equal(S.OK);
  });
  afterEach(async () => {
    await rig.machine.destroy();
  });

  it('the same chain read again and again: each request reads its own sector into the buffer', async () => {
    const c = fixedReadChain(rig);
    for (const s of [2, 0, 3, 1, 1]) {
      expect(await offer(rig, c, T.IN, s)).to.equal(S.OK);
      expect(rig.memory.view(c.data, 512)).to.deep.equal(pattern(512, s + 1));
    }
  });

  it('the data descriptor re-pointed between two requests of the same head: the read lands in the new buffer', async () => {
    const c = fixedReadChain(rig);
    expect(await offer(rig, c, T.IN, 1)).to.equal(S.OK);
    rig.memory.fill(c.data, 512, 0);
    rig.driver.queue.writeDescriptor(41, { addr: c.spare, len: 512, flags: D.NEXT | D.WRITE, next: 42 });
    expect(await offer(rig, c, T.IN, 2)).to.equal(S.OK);
    expect(rig.memory.view(c.spare, 512)).to.deep.equal(pattern(512, 3));
    expect(rig.memory.view(c.data, 512)).to.deep.equal(new Uint8Array(512));
  });

  it('the status descriptor re-pointed: the status byte is written at its new place only', async () => {
    const c = fixedReadChain(rig);
    expect(await offer(rig, c, T.IN, 0)).to.equal(S.OK);
    rig.memory.writeU8(c.status, 0xee);
    rig.driver.queue.writeDescriptor(42, { addr: c.spare + 7, len: 1, flags: D.WRITE, next: 0 });
    expect(await offer(rig, c, T.IN, 0, c.spare + 7)).to.equal(S.OK);
    expect(rig.memory.readU8(c.status)).to.equal(0xee);
  });

  it('the same chain turned from a read into a write: the data vector is rebuilt (nothing to write)', async () => {
    const c = fixedReadChain(rig);
    expect(await offer(rig, c, T.IN, 3)).to.equal(S.OK);
    rig.memory.fill(c.data, 512, 0x5a);
    const writes = rig.disk.ops('write').length;
    // A write whose only device-readable buffer is the header: zero bytes, the disk is unchanged.
    expect(await offer(rig, c, T.OUT, 3)).to.equal(S.OK);
    expect(rig.disk.bytes(3 * 512, 512)).to.deep.equal(pattern(512, 4));
    expect(
      rig.disk
        .ops('write')
        .slice(writes)
        .map((w) => w.bytes),
    ).to.deep.equal([0]);
    // And back to a read of the same chain.
    expect(await offer(rig, c, T.IN, 3)).to.equal(S.OK);
    expect(rig.memory.view(c.data, 512)).to.deep.equal(pattern(512, 4));
  });

  it('a chain made malformed after it was served is still refused (missing headers: NEEDS_RESET)', async () => {
    const c = fixedReadChain(rig);
    expect(await offer(rig, c, T.IN, 0)).to.equal(S.OK);
    // The data and status buffers become device-readable: no device-writable buffer at all.
    rig.driver.queue.writeDescriptor(41, { addr: c.data, len: 512, flags: D.NEXT, next: 42 });
    rig.driver.queue.writeDescriptor(42, { addr: c.status, len: 1, flags: 0, next: 0 });
    rig.driver.queue.addHead(c.head);
    rig.driver.queue.publish();
    rig.driver.queue.kick();
    await until(() => rig.device.broken);
    expect(rig.device.lastError?.message).to.contain('missing headers');
    expect(rig.driver.queue.pendingUsed).to.equal(0);
  });

  it('capacity follows a resize between requests (the cached capacity is refreshed)', async () => {
    const c = fixedReadChain(rig);
    const last = (64 << 20) / 512 - 1;
    expect(await offer(rig, c, T.IN, last)).to.equal(S.OK);
    await rig.layer.blockResize('disk0', 32 << 20);
    const reads = rig.disk.ops('read').length;
    expect(await offer(rig, c, T.IN, last)).to.equal(S.IOERR);
    // Refused by the device's own range check: no I/O, accounted as invalid.
    expect(rig.disk.ops('read').length).to.equal(reads);
    expect(rig.blk().stats.invalidOps[A.READ]).to.equal(1);
    expect(await offer(rig, c, T.IN, (32 << 20) / 512 - 1)).to.equal(S.OK);
    await rig.layer.blockResize('disk0', 64 << 20);
    expect(await offer(rig, c, T.IN, last)).to.equal(S.OK);
  });

  it('a batch of completions is published with one used.idx update, elements first, one interrupt', async () => {
    const load = new VirtioBlkLoad(rig.driver, { slots: 8, bytes: 512 });
    const statuses: number[] = [];
    load.setCallback((_slot, status) => statuses.push(status));
    const q = rig.driver.queue;
    const vq = rig.device.queue(0);
    const start = q.lastUsedIdx;
    // What the guest could see at each used.idx update: the index and the ids already written.
    const updates: { count: number; ids: number[]; idxBefore: number }[] = [];
    const flush = vq.flush.bind(vq);
    vq.flush = (count: number): void => {
      const ids: number[] = [];
      for (let i = 0; i < count; i++)
        ids.push(rig.memory.readU32(q.layout.used + 4 + 8 * ((start + i) % q.size)));
      updates.push({ count, ids, idxBefore: q.deviceUsedIdx });
      flush(count);
    };
    const ints = rig.driver.interrupts;
    for (let s = 0; s < 8; s++) load.submit(s, s % 4);
    load.publish();
    await until(() => statuses.length === 8);
    expect(statuses).to.deep.equal(new Array<number>(8).fill(S.OK));
    expect(updates).to.have.length(1);
    expect(updates[0].count).to.equal(8);
    expect(updates[0].idxBefore).to.equal(start);
    // Every element of the batch was in the ring before the index moved: exactly what the ring
    // holds now, eight distinct chains.
    const finalIds: number[] = [];
    for (let i = 0; i < 8; i++)
      finalIds.push(rig.memory.readU32(q.layout.used + 4 + 8 * ((start + i) % q.size)));
    expect(updates[0].ids).to.deep.equal(finalIds);
    expect(new Set(finalIds).size).to.equal(8);
    expect(rig.driver.interrupts - ints).to.equal(1);
    expect(q.deviceUsedIdx).to.equal((start + 8) & 0xffff);
  });
});

describe('virtio-blk: request pool order', () => {
  const io = {} as unknown as VirtioBlkIo;
  const queue = null as never;

  it('hands requests out first in, first out (the order they completed)', () => {
    const pool = new VirtioBlkRequestPool(io);
    const reqs = [0, 1, 2].map(() => pool.alloc(queue, 0));
    for (const r of [reqs[2], reqs[0], reqs[1]]) pool.release(r);
    expect([pool.alloc(queue, 0), pool.alloc(queue, 0), pool.alloc(queue, 0)]).to.deep.equal([
      reqs[2],
      reqs[0],
      reqs[1],
    ]);
    expect(pool.live).to.equal(6 - 3);
  });

  it('a request taken back unused comes out next; taken back into an empty pool it waits behind later frees', () => {
    const pool = new VirtioBlkRequestPool(io);
    const a = pool.alloc(queue, 0);
    const b = pool.alloc(queue, 0);
    pool.release(a);
    const x = pool.alloc(queue, 0);
    expect(x).to.equal(a);
    pool.unalloc(x);
    expect(pool.alloc(queue, 0)).to.equal(a);
    // The pool is empty now: an unused request is kept aside, so b (freed after) comes first.
    const spare: VirtioBlkRequest = pool.alloc(queue, 0);
    pool.unalloc(spare);
    pool.release(b);
    expect(pool.alloc(queue, 0)).to.equal(b);
    expect(pool.alloc(queue, 0)).to.equal(spare);
    expect(pool.live).to.equal(3);
  });
});
