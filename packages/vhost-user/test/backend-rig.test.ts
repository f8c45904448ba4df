/**
 * A fake QEMU for the back-end tests: guest RAM in a memfd shared as vhost-user memory regions
 * (mapped here too, at the same guest-physical addresses), a guest driver building rings in it
 * with @vmkit/virtio's GuestVirtqueue, and a VhostUserMaster speaking the protocol. Exported for
 * the other backend-*.test.ts files; the tests below check the rig itself.
 */
import { expect } from 'chai';
import { GuestMemory } from '@vmkit/core';
import { VirtioFeature, featureBit } from '@vmkit/virtio';
import { GuestAllocator, GuestVirtqueue, type GuestRequest } from '@vmkit/virtio/testing';
import {
  closeFd,
  createMemfd,
  EventFd,
  mapRegion,
  OsError,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostUserMaster,
  VhostUserProtocolFeature,
  type MappedRegion,
  type MemoryRegionDescription,
} from '../src/index.js';
import { loopTurns, requireAddon } from './helpers.js';

export const MiB = 1 << 20;
/** Where "QEMU" pretends to have mapped guest RAM. */
export const QVA_BASE = 0x7f12_3400_0000n;
export const PROTOCOL_FEATURES_BIT = featureBit(VHOST_USER_F_PROTOCOL_FEATURES);
export const VERSION_1 = featureBit(VirtioFeature.VERSION_1);
export const EVENT_IDX = featureBit(VirtioFeature.RING_EVENT_IDX);
/** The protocol features QEMU 7.2's vhost-user-blk asks for that the back-end offers. */
export const RIG_PROTOCOL_FEATURES =
  featureBit(VhostUserProtocolFeature.MQ) |
  featureBit(VhostUserProtocolFeature.REPLY_ACK) |
  featureBit(VhostUserProtocolFeature.CONFIG);

/** One region of the fake guest's RAM file. */
export interface RigRegion {
  readonly gpa: number;
  readonly size: number;
  /** Offset in the memfd. */
  readonly offset: number;
  /** QEMU virtual address of the region's first byte. */
  readonly qva: bigint;
}

/** QEMU 7.2 (pc): RAM below 4G is two regions of one memfd around the 640K-768K hole. */
export function qemuLowLayout(ramSize: number, qva = QVA_BASE): RigRegion[] {
  return [
    { gpa: 0, size: 0xa0000, offset: 0, qva },
    { gpa: 0xc0000, size: ramSize - 0xc0000, offset: 0xc0000, qva: qva + 0xc0000n },
  ];
}

/** Waits by event-loop turns (never wall time) until `cond()` holds. */
export async function until(cond: () => boolean, what: string, maxTurns = 3000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await loopTurns(1);
  }
  throw new Error(`timed out (${maxTurns} loop turns) waiting for ${what}`);
}

/** Guest RAM as QEMU holds it: one memfd, regions at guest-physical addresses, QEMU-virtual bases. */
export class FakeGuestRam {
  readonly memfd: number;
  readonly memory = new GuestMemory();
  readonly allocator: GuestAllocator;
  private readonly mappings: MappedRegion[] = [];

  constructor(
    readonly layout: readonly RigRegion[],
    fileSize: number,
    /** Guest-physical range the driver allocates rings and buffers from. */
    allocRange: { base: number; size: number },
  ) {
    this.memfd = OsError.check(createMemfd('vu-guest-ram', fileSize), 'memfd');
    for (const r of layout) {
      const m = mapRegion(this.memfd, r.size, r.offset);
      if (typeof m === 'number') throw new OsError(m, 'map guest RAM');
      this.mappings.push(m);
      this.memory.addRegion(r.gpa, m.bytes);
    }
    this.allocator = new GuestAllocator(allocRange.base, allocRange.size);
  }

  /** A QEMU-layout RAM of `ramSize` bytes, allocating above 1 MiB. */
  static qemuLow(ramSize = 4 * MiB): FakeGuestRam {
    return new FakeGuestRam(qemuLowLayout(ramSize), ramSize, { base: MiB, size: ramSize - MiB });
  }

  /** QEMU's virtual address of guest-physical `gpa`. */
  qva(gpa: number): bigint {
    const r = this.layout.find((x) => gpa >= x.gpa && gpa < x.gpa + x.size);
    if (r === undefined) throw new RangeError(`gpa 0x${gpa.toString(16)} is not RAM`);
    return r.qva + BigInt(gpa - r.gpa);
  }

  descriptions(): MemoryRegionDescription[] {
    return this.layout.map((r) => ({
      guestPhysAddr: BigInt(r.gpa),
      memorySize: BigInt(r.size),
      userspaceAddr: r.qva,
      mmapOffset: BigInt(r.offset),
    }));
  }

  /** One descriptor per region (QEMU passes the same memfd for each region of a RAMBlock). */
  fds(): number[] {
    return this.layout.map(() => this.memfd);
  }

  close(): void {
    for (const m of this.mappings) m.unmap();
    closeFd(this.memfd);
  }
}

/** The guest side of one ring plus its kick and call eventfds. */
export class RigRing {
  readonly kick = EventFd.create();
  readonly call = EventFd.create();
  readonly vq: GuestVirtqueue;

  constructor(
    readonly ram: FakeGuestRam,
    readonly index: number,
    readonly size: number,
    eventIdx: boolean,
    startIndex = 0,
  ) {
    const a = ram.allocator;
    const layout = {
      desc: a.alloc(16 * size, 16),
      avail: a.alloc(6 + 2 * size, 2),
      used: a.alloc(6 + 8 * size, 4),
    };
    this.vq = new GuestVirtqueue(
      ram.memory,
      a,
      index,
      size,
      layout,
      eventIdx,
      () => this.kick.write(1),
      startIndex,
    );
    this.vq.initRings();
  }

  /** Submits an echo request of `data` and kicks. */
  echo(data: Uint8Array): GuestRequest {
    const req = this.vq.submit({ out: data, inLength: data.length });
    this.vq.kick();
    return req;
  }

  /** Interrupts received since the last call (reads the call eventfd counter). */
  takeCalls(): number {
    const v = this.call.read();
    return typeof v === 'number' ? 0 : Number(v);
  }

  async waitUsed(count: number): Promise<void> {
    await until(() => this.vq.pendingUsed >= count, `${count} used entries on ring ${this.index}`);
  }

  close(): void {
    this.kick.close();
    this.call.close();
  }
}

export interface StartRingOptions {
  readonly index: number;
  readonly size?: number;
  readonly base?: number;
  /** Restart the ring this rig already has (same rings in guest memory), as after a VM stop. */
  readonly reuse?: boolean;
}

/** A front-end that behaves like QEMU 7.2's vhost-user-blk device. */
export class FakeQemu {
  readonly rings = new Map<number, RigRing>();
  features = 0n;

  constructor(
    readonly master: VhostUserMaster,
    readonly ram: FakeGuestRam,
  ) {}

  static connect(path: string, ram = FakeGuestRam.qemuLow()): FakeQemu {
    return new FakeQemu(VhostUserMaster.connect(path), ram);
  }

  /**
   * Connection set-up as vhost_dev_init does it; returns the back-end's features. With
   * `ack` (default) every later request asks for a REPLY_ACK, which keeps tests in step.
   */
  async handshake(ack = true): Promise<bigint> {
    const m = this.master;
    const features = await m.getFeatures();
    expect(features & PROTOCOL_FEATURES_BIT).to.equal(PROTOCOL_FEATURES_BIT);
    const protocol = await m.getProtocolFeatures();
    await m.setProtocolFeatures(protocol & RIG_PROTOCOL_FEATURES);
    await m.getQueueNum();
    await m.setOwner();
    m.needReply = ack;
    return features;
  }

  /**
   * Starts the device as vhost_dev_start does: SET_FEATURES, SET_MEM_TABLE, then per ring
   * NUM, BASE, ADDR (QEMU-virtual), KICK, CALL, and finally SET_VRING_ENABLE.
   */
  async start(features: bigint, rings: readonly StartRingOptions[], enable = true): Promise<RigRing[]> {
    const m = this.master;
    this.features = features & ~PROTOCOL_FEATURES_BIT;
    await m.setFeatures(features);
    await m.setMemTable(this.ram.descriptions(), this.ram.fds());
    const started: RigRing[] = [];
    for (const r of rings) {
      let ring = this.rings.get(r.index);
      if (r.reuse !== true || ring === undefined) {
        ring?.close();
        ring = new RigRing(this.ram, r.index, r.size ?? 16, (this.features & EVENT_IDX) !== 0n, r.base ?? 0);
        this.rings.set(r.index, ring);
      }
      started.push(ring);
      await m.setVringNum(r.index, ring.size);
      await m.setVringBase(r.index, r.base ?? 0);
      const { desc, avail, used } = ring.vq.layout;
      await m.setVringAddr({
        index: r.index,
        flags: 0,
        desc: this.ram.qva(desc),
        used: this.ram.qva(used),
        avail: this.ram.qva(avail),
        log: 0n,
      });
      await m.setVringKick(r.index, ring.kick.fd);
      await m.setVringCall(r.index, ring.call.fd);
    }
    if (enable) for (const r of rings) await m.setVringEnable(r.index, true);
    return started;
  }

  /** vhost_virtqueue_stop: GET_VRING_BASE. */
  async stop(index: number): Promise<number> {
    return this.master.getVringBase(index);
  }

  close(): void {
    this.master.close();
    for (const ring of this.rings.values()) ring.close();
    this.rings.clear();
    this.ram.close();
  }
}

describe('vhost-user: the fake QEMU used by the back-end tests', function () {
  before(function () {
    requireAddon(this);
  });

  it('maps its RAM as QEMU 7.2 does: two regions of one memfd around the 640K-768K hole', () => {
    const ram = FakeGuestRam.qemuLow(2 * MiB);
    try {
      expect(ram.memory.isMapped(0x9ffff, 1)).to.equal(true);
      expect(ram.memory.isMapped(0xa0000, 1)).to.equal(false);
      expect(ram.memory.isMapped(0xbffff, 1)).to.equal(false);
      expect(ram.memory.isMapped(0xc0000, 2 * MiB - 0xc0000)).to.equal(true);
      expect(ram.qva(0xc0000)).to.equal(QVA_BASE + 0xc0000n);
      expect(() => ram.qva(0xb0000)).to.throw(RangeError);
      expect(ram.descriptions().map((d) => d.mmapOffset)).to.deep.equal([0n, 0xc0000n]);
    } finally {
      ram.close();
    }
  });
});
