/**
 * A vhost-user-blk front-end for the daemon tests, doing what QEMU's vhost-user-blk-pci does at
 * start: the protocol handshake over @vmkit/vhost-user's VhostUserMaster, guest RAM in a memfd
 * shared with the back-end, one ring built by @vmkit/virtio's GuestVirtqueue, and virtio-blk
 * requests (header, data, status byte) whose completions arrive on the call eventfd.
 */
import { GuestMemory } from '@vmkit/core';
import {
  createMemfd,
  closeFd,
  EventFd,
  mapRegion,
  OsError,
  VHOST_USER_F_PROTOCOL_FEATURES,
  VhostUserMaster,
  VhostUserProtocolFeature,
  type MappedRegion,
} from '@vmkit/vhost-user';
import { VirtioFeature, featureBit } from '@vmkit/virtio';
import { GuestAllocator, GuestVirtqueue, type GuestRequest } from '@vmkit/virtio/testing';
import { VirtioBlkFeature, VirtioBlkType } from '@vmkit/virtio-blk';
import { encodeOutHeader } from '@vmkit/virtio-blk/testing';

const MiB = 1 << 20;
/** Where the "front-end process" pretends to have mapped guest RAM. */
const QVA_BASE = 0x7f00_0000_0000n;

/** Waits by event-loop turns (no wall-clock sleeping) until `cond()` holds. */
export async function until(cond: () => boolean, what: string, maxTurns = 20_000): Promise<void> {
  for (let i = 0; i < maxTurns; i++) {
    if (cond()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`gave up after ${maxTurns} loop turns waiting for ${what}`);
}

export interface BlkCompletion {
  /** virtio-blk status byte (0 OK, 1 IOERR, 2 UNSUPP). */
  readonly status: number;
  /** Bytes the device wrote (data + status). */
  readonly len: number;
  /** Data read (IN requests), without the status byte. */
  readonly data: Uint8Array;
}

export class BlkFrontEnd {
  readonly memory = new GuestMemory();
  readonly kick = EventFd.create();
  readonly call = EventFd.create();
  features = 0n;
  private readonly memfd: number;
  private readonly mapping: MappedRegion;
  private readonly allocator: GuestAllocator;
  private vq: GuestVirtqueue | null = null;
  private readonly done = new Map<number, { len: number; data: Uint8Array }>();

  private constructor(
    readonly master: VhostUserMaster,
    private readonly ramSize: number,
  ) {
    this.memfd = OsError.check(createMemfd('blk-front-end', ramSize), 'memfd');
    const m = mapRegion(this.memfd, ramSize, 0);
    if (typeof m === 'number') throw new OsError(m, 'map guest RAM');
    this.mapping = m;
    this.memory.addRegion(0, m.bytes);
    this.allocator = new GuestAllocator(0x1000, ramSize - 0x1000);
  }

  /** Connects to the export's socket (throws an OsError when nothing listens). */
  static connect(path: string, ramSize = 8 * MiB): BlkFrontEnd {
    return new BlkFrontEnd(VhostUserMaster.connect(path), ramSize);
  }

  /** Handshake and device start as vhost_dev_init + vhost_dev_start do; returns the offered features. */
  /** Negotiates and sets up queue 0; `eventIdx` also accepts VIRTIO_RING_F_EVENT_IDX. */
  async start(queueSize = 64, options: { eventIdx?: boolean } = {}): Promise<bigint> {
    const m = this.master;
    const offered = await m.getFeatures();
    const protocol = await m.getProtocolFeatures();
    const wanted =
      featureBit(VhostUserProtocolFeature.MQ) |
      featureBit(VhostUserProtocolFeature.REPLY_ACK) |
      featureBit(VhostUserProtocolFeature.CONFIG);
    await m.setProtocolFeatures(protocol & wanted);
    await m.setOwner();
    m.needReply = true;
    const accept =
      featureBit(VirtioFeature.VERSION_1) |
      featureBit(VHOST_USER_F_PROTOCOL_FEATURES) |
      featureBit(VirtioBlkFeature.FLUSH) |
      featureBit(VirtioBlkFeature.BLK_SIZE) |
      featureBit(VirtioBlkFeature.RO) |
      featureBit(VirtioBlkFeature.DISCARD) |
      featureBit(VirtioBlkFeature.WRITE_ZEROES) |
      (options.eventIdx === true ? featureBit(VirtioFeature.RING_EVENT_IDX) : 0n);
    const features = offered & accept;
    this.features = features;
    await m.setFeatures(features);
    await m.setMemTable(
      [{ guestPhysAddr: 0n, memorySize: BigInt(this.ramSize), userspaceAddr: QVA_BASE, mmapOffset: 0n }],
      [this.memfd],
    );
    const a = this.allocator;
    const layout = {
      desc: a.alloc(16 * queueSize, 16),
      avail: a.alloc(6 + 2 * queueSize, 2),
      used: a.alloc(6 + 8 * queueSize, 4),
    };
    const eventIdx = (features & featureBit(VirtioFeature.RING_EVENT_IDX)) !== 0n;
    const vq = new GuestVirtqueue(this.memory, a, 0, queueSize, layout, eventIdx, () => this.kick.write(1));
    vq.initRings();
    this.vq = vq;
    await m.setVringNum(0, queueSize);
    await m.setVringBase(0, 0);
    await m.setVringAddr({
      index: 0,
      flags: 0,
      desc: QVA_BASE + BigInt(layout.desc),
      avail: QVA_BASE + BigInt(layout.avail),
      used: QVA_BASE + BigInt(layout.used),
      log: 0n,
    });
    await m.setVringKick(0, this.kick.fd);
    await m.setVringCall(0, this.call.fd);
    await m.setVringEnable(0, true);
    return offered;
  }

  hasFeature(bit: number): boolean {
    return (this.features & featureBit(bit)) !== 0n;
  }

  /** Capacity in 512-byte sectors (config space offset 0). */
  async capacity(): Promise<bigint> {
    const bytes = await this.master.getConfig(0, 8);
    return new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true);
  }

  private get queue(): GuestVirtqueue {
    if (this.vq === null) throw new Error('BlkFrontEnd: start() first');
    return this.vq;
  }

  /** Publishes a request and kicks; complete it with `wait`. */
  submit(type: number, sector: number, out: Uint8Array = new Uint8Array(0), inData = 0): GuestRequest {
    const header = encodeOutHeader(type, sector);
    const body = new Uint8Array(header.length + out.length);
    body.set(header);
    body.set(out, header.length);
    const req = this.queue.submit({ out: body, inLength: inData + 1 });
    this.queue.kick();
    return req;
  }

  /** Waits until the device has used `req`, reaping whatever completed meanwhile. */
  async wait(req: GuestRequest): Promise<BlkCompletion> {
    const vq = this.queue;
    await until(() => {
      if (vq.pendingUsed > 0) {
        for (const u of vq.reap()) {
          // The buffers were just released, not reused: their bytes are still there.
          const data = u.request !== undefined ? vq.readIn(u.request) : new Uint8Array(0);
          this.done.set(u.id, { len: u.len, data });
        }
      }
      return this.done.has(req.head);
    }, `completion of request ${req.head}`);
    const { len, data } = this.done.get(req.head)!;
    this.done.delete(req.head);
    return { status: data[data.length - 1], len, data: data.subarray(0, data.length - 1) };
  }

  async read(sector: number, bytes: number): Promise<BlkCompletion> {
    return this.wait(this.submit(VirtioBlkType.IN, sector, undefined, bytes));
  }

  async write(sector: number, data: Uint8Array): Promise<BlkCompletion> {
    return this.wait(this.submit(VirtioBlkType.OUT, sector, data));
  }

  async flush(): Promise<BlkCompletion> {
    return this.wait(this.submit(VirtioBlkType.FLUSH, 0));
  }

  /** Interrupts (call eventfd writes) since the last look. */
  takeCalls(): number {
    const v = this.call.read();
    return typeof v === 'number' ? 0 : Number(v);
  }

  close(): void {
    this.master.close();
    this.kick.close();
    this.call.close();
    this.mapping.unmap();
    closeFd(this.memfd);
  }
}
