import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AioContext, GuestMemory } from '@vmkit/core';
import { VirtioStatus, featureBit } from '@vmkit/virtio';
import {
  ECHO_CONFIG_PROCESSED,
  ECHO_CONFIG_SCRATCH,
  EchoDevice,
  VIRTIO_ECHO_F_INVERT,
} from '@vmkit/virtio/testing';
import {
  closeFd,
  createMemfd,
  EventFd,
  mapRegion,
  OsError,
  VHOST_USER_BACKEND_PROTOCOL_FEATURES,
  VhostUserMaster,
  VhostUserServer,
  type VhostUserDisconnectEvent,
  type VhostUserRejectEvent,
} from '../src/index.js';
import {
  EVENT_IDX,
  FakeGuestRam,
  FakeQemu,
  MiB,
  PROTOCOL_FEATURES_BIT,
  RIG_PROTOCOL_FEATURES,
  VERSION_1,
  until,
  type RigRegion,
} from './backend-rig.test.js';
import { loopTurns, removeDir, requireAddon, socketDir } from './helpers.js';

const INVERT = featureBit(VIRTIO_ECHO_F_INVERT);
const DRIVER_STATUS = VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER;

function bytes(...values: number[]): Uint8Array {
  return Uint8Array.from(values);
}

function inverted(data: Uint8Array): Uint8Array {
  return data.map((b) => ~b & 0xff);
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('vhost-user back-end: a session with a QEMU-like front-end', function () {
  let dir: string;
  let device: EchoDevice;
  let server: VhostUserServer;
  let logs: string[];
  let qemus: FakeQemu[];

  function connect(ram?: FakeGuestRam): FakeQemu {
    const q = FakeQemu.connect(join(dir, 'vu.sock'), ram);
    qemus.push(q);
    return q;
  }

  before(function () {
    requireAddon(this);
  });
  beforeEach(() => {
    dir = socketDir();
    device = new EchoDevice({ queues: 2, queueSize: 64 });
    logs = [];
    qemus = [];
    server = VhostUserServer.listen({
      path: join(dir, 'vu.sock'),
      device,
      context: new AioContext({ name: 'vu-test' }),
      log: (line) => logs.push(line),
    });
  });
  afterEach(async function () {
    if (this.currentTest?.state === 'failed') console.log(logs.join('\n'));
    for (const q of qemus) q.close();
    await server.close();
    removeDir(dir);
  });

  it('negotiates: features with VHOST_USER_F_PROTOCOL_FEATURES, protocol features, queue count, FEATURES_OK', async () => {
    const connected = new Promise((resolve) => server.once('connect', resolve));
    const qemu = connect();
    const features = await qemu.handshake();
    expect(await connected).to.deep.equal({ client: 1 });
    expect(features).to.equal(device.hostFeatures | PROTOCOL_FEATURES_BIT);
    expect(features & VERSION_1).to.equal(VERSION_1);
    expect(await qemu.master.getProtocolFeatures()).to.equal(VHOST_USER_BACKEND_PROTOCOL_FEATURES);
    expect(VHOST_USER_BACKEND_PROTOCOL_FEATURES).to.equal(RIG_PROTOCOL_FEATURES);
    expect(await qemu.master.getQueueNum()).to.equal(2);
    expect(device.status).to.equal(0);

    expect(await qemu.master.setFeatures(VERSION_1 | EVENT_IDX | INVERT | PROTOCOL_FEATURES_BIT)).to.equal(
      0n,
    );
    expect(device.status).to.equal(DRIVER_STATUS | VirtioStatus.FEATURES_OK);
    expect(device.guestFeatures).to.equal(VERSION_1 | EVENT_IDX | INVERT);
    expect(server.backend!.status.owner).to.equal(true);
  });

  it('maps a two-region memory table (one memfd, different offsets, a hole) as GuestMemory at guest-physical addresses', async () => {
    const qemu = connect(FakeGuestRam.qemuLow(4 * MiB));
    await qemu.handshake();
    await qemu.master.setFeatures(VERSION_1 | PROTOCOL_FEATURES_BIT);
    await qemu.master.setMemTable(qemu.ram.descriptions(), qemu.ram.fds());
    const memory = server.backend!.memory;
    expect(memory.regions.map((r) => [r.gpa, r.size])).to.deep.equal([
      [0, 0xa0000],
      [0xc0000, 4 * MiB - 0xc0000],
    ]);
    expect(memory.isMapped(0xa0000, 1)).to.equal(false);
    // The same pages, not copies: writes cross in both directions, in both regions.
    qemu.ram.memory.writeU32(0x1000, 0x11223344);
    qemu.ram.memory.writeU32(0x3ffffc, 0x55667788);
    expect(memory.readU32(0x1000)).to.equal(0x11223344);
    expect(memory.readU32(0x3ffffc)).to.equal(0x55667788);
    memory.writeU32(0xc0000, 0xcafef00d);
    expect(qemu.ram.memory.readU32(0xc0000)).to.equal(0xcafef00d);
    expect(server.backend!.status.memorySize).to.equal(4 * MiB - 0x20000);
  });

  it('starts a ring from QEMU-virtual addresses; kicks are processed, the used ring filled and the call eventfd written', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | EVENT_IDX | INVERT | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    expect(device.status).to.equal(DRIVER_STATUS | VirtioStatus.FEATURES_OK | VirtioStatus.DRIVER_OK);
    const queue = device.queue(0);
    expect([queue.descAddr, queue.availAddr, queue.usedAddr]).to.deep.equal([
      ring.vq.layout.desc,
      ring.vq.layout.avail,
      ring.vq.layout.used,
    ]);
    const data = [bytes(1, 2, 3), bytes(0xf0, 0x0f), bytes(0x55, 0xaa, 0, 0xff)];
    const requests = data.map((d) => ring.echo(d));
    await ring.waitUsed(3);
    const used = ring.vq.reap();
    expect(used.map((u) => u.id)).to.deep.equal(requests.map((r) => r.head));
    used.forEach((u, i) => {
      expect(u.len).to.equal(data[i].length);
      expect(ring.vq.readIn(requests[i])).to.deep.equal(inverted(data[i]));
    });
    await until(() => ring.takeCalls() > 0, 'an interrupt on the call eventfd');
    expect(device.processed).to.equal(3);
    expect(server.backend!.status.rings[0]).to.include({
      started: true,
      enabled: true,
      active: true,
      lastAvailIdx: 3,
    });
  });

  it('a kick is handled in the loop turn whose poll saw it (aio_poll runs the ioeventfd handler inline)', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | EVENT_IDX | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    for (let round = 0; round < 3; round++) {
      // From a check phase: the next loop turn polls (and sees the kick) before its check phase.
      await loopTurns(1);
      ring.echo(bytes(round));
      const usedAtCheck = await new Promise<number>((resolve) =>
        setImmediate(() => resolve(ring.vq.pendingUsed)),
      );
      // A bottom-half hop would only have been queued behind this immediate.
      expect(usedAtCheck, `round ${round}`).to.equal(1);
      ring.vq.reap();
    }
    expect(device.processed).to.equal(3);
  });

  it('translates vring addresses through each region (unrelated QEMU bases, RAM above 4 GiB at file offset 0)', async () => {
    const layout: RigRegion[] = [
      { gpa: 0, size: MiB, offset: 2 * MiB, qva: 0x7faa_0000_0000n },
      { gpa: 0x1_0000_0000, size: 2 * MiB, offset: 0, qva: 0x7f00_1000_0000n },
    ];
    const ram = new FakeGuestRam(layout, 3 * MiB, { base: 0x1_0000_0000, size: 2 * MiB });
    const qemu = connect(ram);
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 1, size: 32 }]);
    expect(device.queue(1).descAddr).to.equal(ring.vq.layout.desc);
    expect(ring.vq.layout.desc).to.be.at.least(0x1_0000_0000);
    const req = ring.echo(bytes(9, 8, 7));
    await ring.waitUsed(1);
    ring.vq.reap();
    expect(ring.vq.readIn(req)).to.deep.equal(bytes(9, 8, 7));
  });

  it('signals the call eventfd of the queue that completed, not the others', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [r0, r1] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }, { index: 1 }]);
    r1.echo(bytes(1));
    await r1.waitUsed(1);
    await until(() => r1.takeCalls() > 0, 'a call on ring 1');
    expect(r0.takeCalls()).to.equal(0);
    r0.echo(bytes(2));
    await r0.waitUsed(1);
    await until(() => r0.takeCalls() > 0, 'a call on ring 0');
    expect(r1.takeCalls()).to.equal(0);
  });

  it('a started ring waits for SET_VRING_ENABLE once VHOST_USER_F_PROTOCOL_FEATURES is acked; a kick made before is then processed', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }], false);
    ring.echo(bytes(4, 5));
    await loopTurns(30);
    expect(device.processed).to.equal(0);
    expect(server.backend!.status.rings[0]).to.include({ started: true, enabled: false, active: false });
    await qemu.master.setVringEnable(0, true);
    await ring.waitUsed(1);
    expect(device.processed).to.equal(1);
  });

  it('without VHOST_USER_F_PROTOCOL_FEATURES acked a ring runs as soon as it has a kick descriptor', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1, [{ index: 0 }], false);
    ring.echo(bytes(6));
    await ring.waitUsed(1);
    expect(device.processed).to.equal(1);
  });

  it('stop/start cycles: GET_VRING_BASE stops the ring at last_avail_idx; SeaBIOS then Linux; a VM stop/cont resumes', async () => {
    const qemu = connect();
    await qemu.handshake();
    // SeaBIOS: VERSION_1 only.
    const [bios] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0, size: 8 }]);
    bios.echo(bytes(1));
    bios.echo(bytes(2));
    await bios.waitUsed(2);
    expect(await qemu.stop(0)).to.equal(2);
    expect(server.backend!.status.rings[0]).to.include({ started: false, active: false, lastAvailIdx: 2 });
    // A stopped ring is not processed.
    bios.echo(bytes(3));
    await loopTurns(30);
    expect(device.processed).to.equal(2);
    expect(bios.vq.pendingUsed).to.equal(2);

    // Linux resets the device and negotiates more: a fresh negotiation, new rings, base 0.
    const [linux] = await qemu.start(VERSION_1 | EVENT_IDX | INVERT | PROTOCOL_FEATURES_BIT, [
      { index: 0, size: 16 },
    ]);
    expect(device.processed).to.equal(0);
    expect(device.guestFeatures).to.equal(VERSION_1 | EVENT_IDX | INVERT);
    const a = linux.echo(bytes(0x0f));
    await linux.waitUsed(1);
    linux.vq.reap();
    expect(linux.vq.readIn(a)).to.deep.equal(bytes(0xf0));
    expect(await qemu.stop(0)).to.equal(1);

    // VM stop/cont: same features, the same ring resumes at its base; the device is not reset.
    await qemu.start(VERSION_1 | EVENT_IDX | INVERT | PROTOCOL_FEATURES_BIT, [
      { index: 0, base: 1, reuse: true },
    ]);
    const b = linux.echo(bytes(0x01));
    await linux.waitUsed(1);
    const [used] = linux.vq.reap();
    expect(used.id).to.equal(b.head);
    expect(device.processed).to.equal(2);
    expect(device.queue(0).lastAvailIdx).to.equal(2);
    expect(await qemu.stop(0)).to.equal(2);
  });

  it('a device error (malformed ring) is reported on the err eventfd; the connection stays open', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    const err = EventFd.create();
    try {
      await qemu.master.setVringErr(0, err.fd);
      ring.vq.setAvailIdx(100);
      ring.vq.kick();
      await until(() => device.broken, 'the device error');
      expect(device.status & VirtioStatus.NEEDS_RESET).to.equal(VirtioStatus.NEEDS_RESET);
      await until(() => typeof err.read() !== 'number', 'a write to the err eventfd');
      expect(server.backend!.transport.droppedConfigInterrupts).to.equal(1);
      expect(await qemu.master.getQueueNum()).to.equal(2);
    } finally {
      err.close();
    }
  });

  it('GET_VRING_BASE waits for requests in flight, whose completions reach the used ring', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    // Hold the popped element instead of completing it (a slow block request).
    const queue = device.queue(0);
    await loopTurns(5);
    queue.detachHostNotifier();
    ring.echo(bytes(7, 7));
    await until(() => !queue.isEmpty(), 'the request in the avail ring');
    const elem = queue.pop()!;
    expect(queue.inUse).to.equal(1);
    let reply: number | undefined;
    const stopping = qemu.stop(0).then((base) => (reply = base));
    await loopTurns(20);
    expect(reply).to.equal(undefined);
    queue.push(elem, 0);
    queue.notify();
    await stopping;
    expect(reply).to.equal(1);
    expect(ring.vq.pendingUsed).to.equal(1);
  });

  it('a new SET_MEM_TABLE while a ring runs replaces guest memory in one step and the ring keeps going', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    ring.echo(bytes(1));
    await ring.waitUsed(1);
    const extra = OsError.check(createMemfd('vu-hotplug', MiB), 'memfd');
    try {
      const regions = [
        ...qemu.ram.descriptions(),
        {
          guestPhysAddr: 0x2000_0000n,
          memorySize: BigInt(MiB),
          userspaceAddr: 0x7f77_0000_0000n,
          mmapOffset: 0n,
        },
      ];
      await qemu.master.setMemTable(regions, [...qemu.ram.fds(), extra]);
      const memory = server.backend!.memory;
      expect(memory.regions).to.have.length(3);
      const mine = mapRegion(extra, MiB, 0);
      if (typeof mine === 'number') throw new OsError(mine, 'map');
      mine.bytes[5] = 0x5a;
      expect(memory.readU8(0x2000_0005)).to.equal(0x5a);
      mine.unmap();
    } finally {
      closeFd(extra);
    }
    ring.echo(bytes(2));
    await ring.waitUsed(2);
    expect(device.processed).to.equal(2);
  });

  it('GET_CONFIG and SET_CONFIG reach the device config space (CONFIG protocol feature)', async () => {
    const qemu = connect();
    await qemu.handshake();
    const [ring] = await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    ring.echo(bytes(1));
    ring.echo(bytes(2));
    await ring.waitUsed(2);
    const config = await qemu.master.getConfig(0, 8);
    const view = new DataView(config.buffer, config.byteOffset, config.byteLength);
    expect(view.getUint32(ECHO_CONFIG_PROCESSED, true)).to.equal(2);
    expect(view.getUint32(ECHO_CONFIG_SCRATCH, true)).to.equal(0);

    expect(await qemu.master.setConfig(ECHO_CONFIG_SCRATCH, bytes(0xef, 0xbe, 0xad, 0xde))).to.equal(0n);
    expect(device.scratchValue).to.equal(0xdeadbeef);
    expect(await qemu.master.getConfig(6, 2)).to.deep.equal(bytes(0xad, 0xde));
    // A byte-wise write in the middle of the word.
    await qemu.master.setConfig(5, bytes(0x11));
    expect(device.scratchValue).to.equal(0xdead11ef);
    // The front-end may ask for more than the device has: the rest reads as zero.
    const wide = await qemu.master.getConfig(4, 12);
    expect(wide).to.deep.equal(bytes(0xef, 0x11, 0xad, 0xde, 0, 0, 0, 0, 0, 0, 0, 0));
  });

  it('REPLY_ACK: every request with NEED_REPLY gets an ack (non-zero for a refused SET_CONFIG); none without it', async () => {
    const qemu = connect();
    await qemu.handshake(false);
    const m = qemu.master;
    // No NEED_REPLY: no ack is sent, so the next reply read is the one of GET_FEATURES.
    await m.setFeatures(VERSION_1 | PROTOCOL_FEATURES_BIT);
    expect(await m.getFeatures()).to.equal(device.hostFeatures | PROTOCOL_FEATURES_BIT);
    m.needReply = true;
    expect(await m.setMemTable(qemu.ram.descriptions(), qemu.ram.fds())).to.equal(0n);
    expect(await m.setVringNum(0, 16)).to.equal(0n);
    expect(await m.setConfig(4, bytes(1, 0, 0, 0), 7)).to.not.equal(0n);
    expect(device.scratchValue).to.equal(0);
    expect(await m.setConfig(4, bytes(1, 0, 0, 0), 1)).to.equal(0n);
    expect(device.scratchValue).to.equal(1);
    // A request with a reply of its own gets that reply only.
    expect(await m.getQueueNum()).to.equal(2);
    expect(server.backend).to.not.equal(null);
  });

  it('after the front-end goes away the device is reset, its descriptors closed, and a new QEMU is served', async () => {
    const fdsBefore = openFdCount();
    const first = connect();
    await first.handshake();
    const [ring] = await first.start(VERSION_1 | INVERT | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    ring.echo(bytes(1, 2));
    await ring.waitUsed(1);
    await first.master.setConfig(4, bytes(9, 0, 0, 0));
    expect(server.statusLine()).to.match(/client #1 connected, features 0x[0-9a-f]+, rings 1\/2 running/);

    const gone = new Promise<VhostUserDisconnectEvent>((resolve) => server.once('disconnect', resolve));
    first.close();
    qemus.splice(qemus.indexOf(first), 1);
    const event = await gone;
    expect(event).to.include({ kind: 'peer', client: 1 });
    expect(server.backend).to.equal(null);
    expect(device.status).to.equal(0);
    expect(device.processed).to.equal(0);
    expect(device.scratchValue).to.equal(0);
    expect(device.transport).to.equal(null);
    expect(openFdCount()).to.equal(fdsBefore);
    expect(logs.some((l) => l.includes('front-end disconnected'))).to.equal(true);
    expect(server.statusLine()).to.match(
      /waiting for a front-end \(client #1 left: peer closed the connection\)/,
    );

    const second = connect();
    await second.handshake();
    const [again] = await second.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    const req = again.echo(bytes(3, 4));
    await again.waitUsed(1);
    again.vq.reap();
    expect(again.vq.readIn(req)).to.deep.equal(bytes(3, 4));
    expect(device.processed).to.equal(1);
    expect(server.clientCount).to.equal(2);
  });

  it('a second front-end while one is served is closed with a logged reason; the first keeps working', async () => {
    const first = connect();
    await first.handshake();
    const refused = new Promise<VhostUserRejectEvent>((resolve) => server.once('reject', resolve));
    const intruder = VhostUserMaster.connect(join(dir, 'vu.sock'));
    try {
      const event = await refused;
      expect(event.reason).to.match(/another front-end \(client #1\) is connected/);
      expect(await intruder.waitClosed()).to.equal(true);
    } finally {
      intruder.close();
    }
    expect(logs.some((l) => l.includes('refused a front-end'))).to.equal(true);
    const [ring] = await first.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    ring.echo(bytes(1));
    await ring.waitUsed(1);
    expect(server.clientCount).to.equal(1);
  });

  it('close() on the server closes the connection and resets the device', async () => {
    const qemu = connect();
    await qemu.handshake();
    await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    const gone = new Promise<VhostUserDisconnectEvent>((resolve) => server.once('disconnect', resolve));
    await server.close();
    expect(await gone).to.include({ kind: 'local', reason: 'server closed' });
    expect(await qemu.master.waitClosed()).to.equal(true);
    expect(device.status).to.equal(0);
    expect(server.statusLine()).to.match(/: closed$/);
  });

  it('guest memory seen by the device is a normal GuestMemory (the device can be driven from it)', async () => {
    const qemu = connect();
    await qemu.handshake();
    await qemu.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
    expect(device.memory).to.be.instanceOf(GuestMemory);
    expect(device.memory).to.equal(server.backend!.memory);
  });
});
