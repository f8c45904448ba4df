import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AioContext } from '@vmkit/core';
import { EchoDevice } from '@vmkit/virtio/testing';
import {
  closeFds,
  createMemfd,
  encodeConfigAccess,
  encodeMemoryTable,
  encodeMessage,
  encodeU64,
  encodeVringState,
  EventFd,
  OsError,
  VhostUserFlag,
  VhostUserRequest as R,
  VhostUserServer,
  type MemoryRegionDescription,
  type VhostUserDisconnectEvent,
} from '../src/index.js';
import { FakeQemu, MiB, PROTOCOL_FEATURES_BIT, QVA_BASE, VERSION_1 } from './backend-rig.test.js';
import { removeDir, requireAddon, socketDir } from './helpers.js';

const V = VhostUserFlag.VERSION;

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** Descriptors a case creates, closed after it. */
class FdBag {
  readonly fds: number[] = [];
  eventfd(): number {
    const e = EventFd.create();
    this.fds.push(e.fd);
    return e.fd;
  }
  memfd(size: number): number {
    const fd = OsError.check(createMemfd('vu-bad', size), 'memfd');
    this.fds.push(fd);
    return fd;
  }
  close(): void {
    closeFds(this.fds.splice(0));
  }
}

type Setup = 'none' | 'handshake' | 'features' | 'memory';

interface MalformedCase {
  readonly name: string;
  readonly setup: Setup;
  readonly reason: RegExp;
  readonly kind?: VhostUserDisconnectEvent['kind'];
  send(q: FakeQemu, bag: FdBag): Promise<unknown>;
}

function region(gpa: number, size: number, offset: number, qva: bigint): MemoryRegionDescription {
  return {
    guestPhysAddr: BigInt(gpa),
    memorySize: BigInt(size),
    userspaceAddr: qva,
    mmapOffset: BigInt(offset),
  };
}

const raw = (q: FakeQemu, request: number, payload?: Uint8Array, fds: number[] = [], flags: number = V) =>
  q.master.sendRaw(encodeMessage(request, flags, payload), fds);

const addr = (index: number, desc: bigint, avail: bigint, used: bigint): Uint8Array => {
  const b = new Uint8Array(40);
  const v = new DataView(b.buffer);
  v.setUint32(0, index, true);
  v.setBigUint64(8, desc, true);
  v.setBigUint64(16, used, true);
  v.setBigUint64(24, avail, true);
  return b;
};

const GOOD = QVA_BASE + 0x10_0000n;

const cases: MalformedCase[] = [
  {
    name: 'bad size: SET_FEATURES with a 4-byte payload',
    setup: 'handshake',
    reason: /^SET_FEATURES \(2\): payload is 4 bytes, 8 expected$/,
    send: (q) => raw(q, R.SET_FEATURES, new Uint8Array(4)),
  },
  {
    name: 'bad size: GET_FEATURES with a payload',
    setup: 'none',
    reason: /^GET_FEATURES \(1\): payload is 8 bytes, 0 expected$/,
    send: (q) => raw(q, R.GET_FEATURES, new Uint8Array(8)),
  },
  {
    name: 'bad size: a payload larger than any message (refused before it is read)',
    setup: 'none',
    reason: /^SET_MEM_TABLE \(5\): payload size 65536 exceeds the 268-byte limit$/,
    send: (q) => {
      const header = encodeMessage(R.SET_MEM_TABLE, V);
      new DataView(header.buffer).setUint32(8, 65536, true);
      return q.master.sendRaw(header);
    },
  },
  {
    name: 'bad header: protocol version 2',
    setup: 'none',
    reason: /^GET_FEATURES \(1\): protocol version 2, 1 expected$/,
    send: (q) => raw(q, R.GET_FEATURES, undefined, [], 0x2),
  },
  {
    name: 'bad header: the REPLY flag on a request',
    setup: 'none',
    reason: /a reply where a request was expected/,
    send: (q) => raw(q, R.GET_FEATURES, undefined, [], V | VhostUserFlag.REPLY),
  },
  {
    name: 'unknown request',
    setup: 'handshake',
    reason: /^request 99: unknown or unsupported request$/,
    send: (q) => raw(q, 99),
  },
  {
    name: 'unsupported request (SET_LOG_BASE)',
    setup: 'handshake',
    reason: /^SET_LOG_BASE \(6\): unknown or unsupported request$/,
    send: (q) => raw(q, R.SET_LOG_BASE, encodeU64(0)),
  },
  {
    name: 'fd count mismatch: SET_VRING_KICK with neither a descriptor nor the no-fd flag',
    setup: 'memory',
    reason: /^SET_VRING_KICK \(12\): 0 file descriptor\(s\) attached, 1 expected$/,
    send: (q) => raw(q, R.SET_VRING_KICK, encodeU64(0)),
  },
  {
    name: 'fd count mismatch: SET_FEATURES carrying a descriptor',
    setup: 'handshake',
    reason: /^SET_FEATURES \(2\): 1 file descriptor\(s\) attached, 0 expected$/,
    send: (q, bag) => raw(q, R.SET_FEATURES, encodeU64(VERSION_1), [bag.eventfd()]),
  },
  {
    name: 'fd count mismatch: SET_MEM_TABLE with two regions and one descriptor',
    setup: 'features',
    reason: /^SET_MEM_TABLE \(5\): 1 file descriptor\(s\) attached, 2 expected$/,
    send: (q) => raw(q, R.SET_MEM_TABLE, encodeMemoryTable(q.ram.descriptions()), [q.ram.memfd]),
  },
  {
    name: 'fd count: more than 8 descriptors on one message',
    setup: 'handshake',
    reason: /more than 8 file descriptors attached/,
    send: (q, bag) =>
      raw(
        q,
        R.SET_OWNER,
        undefined,
        Array.from({ length: 9 }, () => bag.eventfd()),
      ),
  },
  {
    name: 'region outside memory: offset + size beyond the memfd',
    setup: 'features',
    reason:
      /^SET_MEM_TABLE \(5\): memory region 0 \(gpa 0x0, size 0x100000\): cannot map 0x100000 bytes at file offset 0x80000: /,
    send: (q, bag) =>
      raw(q, R.SET_MEM_TABLE, encodeMemoryTable([region(0, MiB, 0x80000, QVA_BASE)]), [bag.memfd(MiB)]),
  },
  {
    name: 'overlapping regions',
    setup: 'features',
    reason: /^SET_MEM_TABLE \(5\): memory region 1 \(gpa 0x80000\) overlaps region 0 \[0x0, 0x100000\)$/,
    send: (q, bag) => {
      const fd = bag.memfd(2 * MiB);
      const table = encodeMemoryTable([
        region(0, MiB, 0, QVA_BASE),
        region(0x80000, MiB, MiB, QVA_BASE + 0x10_0000n),
      ]);
      return raw(q, R.SET_MEM_TABLE, table, [fd, fd]);
    },
  },
  {
    name: 'an empty region',
    setup: 'features',
    reason: /memory region 0 \(gpa 0x0, size 0x0\): empty region$/,
    send: (q, bag) =>
      raw(q, R.SET_MEM_TABLE, encodeMemoryTable([region(0, 0, 0, QVA_BASE)]), [bag.memfd(MiB)]),
  },
  {
    name: 'nine regions',
    setup: 'features',
    reason: /^SET_MEM_TABLE \(5\): 9 regions, at most 8 allowed$/,
    send: (q) => {
      // A full-size (8-region) payload whose count says 9.
      const table = encodeMemoryTable(Array.from({ length: 8 }, (_, i) => region(i * MiB, MiB, 0, QVA_BASE)));
      new DataView(table.buffer).setUint32(0, 9, true);
      return raw(q, R.SET_MEM_TABLE, table);
    },
  },
  {
    name: 'vring index out of range: SET_VRING_NUM of queue 2 on a 2-queue device',
    setup: 'memory',
    reason: /^SET_VRING_NUM \(8\): vring index 2 out of range \(the device has 2 queues\)$/,
    send: (q) => raw(q, R.SET_VRING_NUM, encodeVringState({ index: 2, num: 16 })),
  },
  {
    name: 'vring index out of range: SET_VRING_CALL of queue 255',
    setup: 'memory',
    reason: /^SET_VRING_CALL \(13\): vring index 255 out of range/,
    send: (q, bag) => raw(q, R.SET_VRING_CALL, encodeU64(0xff), [bag.eventfd()]),
  },
  {
    name: 'vring size larger than the queue allows',
    setup: 'memory',
    reason: /^SET_VRING_NUM \(8\): vring 0: size 1000 is not in 1\.\.64$/,
    send: (q) => raw(q, R.SET_VRING_NUM, encodeVringState({ index: 0, num: 1000 })),
  },
  {
    name: 'address untranslatable: an avail ring in the 640K-768K hole',
    setup: 'memory',
    reason: /^SET_VRING_ADDR \(9\): vring 0: avail ring address 0x7f12340b0000 is not in any memory region$/,
    send: (q) => raw(q, R.SET_VRING_ADDR, addr(0, GOOD, QVA_BASE + 0xb0000n, GOOD + 0x1000n)),
  },
  {
    name: 'address untranslatable: a guest-physical address where a QEMU-virtual one belongs',
    setup: 'memory',
    reason: /^SET_VRING_ADDR \(9\): vring 0: descriptor table address 0x100000 is not in any memory region$/,
    send: (q) => raw(q, R.SET_VRING_ADDR, addr(0, 0x10_0000n, GOOD, GOOD + 0x1000n)),
  },
  {
    name: 'a ring that does not fit in its region (checked when it starts)',
    setup: 'memory',
    reason:
      /^SET_VRING_ENABLE \(18\): vring 0: descriptor table at 0x7f123409fff0 \(256 bytes\) is not inside one memory region$/,
    send: async (q, bag) => {
      await raw(q, R.SET_VRING_NUM, encodeVringState({ index: 0, num: 16 }));
      await raw(q, R.SET_VRING_ADDR, addr(0, QVA_BASE + 0x9fff0n, GOOD, GOOD + 0x1000n));
      await raw(q, R.SET_VRING_KICK, encodeU64(0), [bag.eventfd()]);
      return raw(q, R.SET_VRING_ENABLE, encodeVringState({ index: 0, num: 1 }));
    },
  },
  {
    name: 'SET_VRING_NUM on a started ring',
    setup: 'memory',
    reason: /^SET_VRING_NUM \(8\): vring 0 is started \(GET_VRING_BASE stops it\)$/,
    send: async (q, bag) => {
      await raw(q, R.SET_VRING_NUM, encodeVringState({ index: 0, num: 16 }));
      await raw(q, R.SET_VRING_ADDR, addr(0, GOOD, GOOD + 0x1000n, GOOD + 0x2000n));
      await raw(q, R.SET_VRING_KICK, encodeU64(0), [bag.eventfd()]);
      return raw(q, R.SET_VRING_NUM, encodeVringState({ index: 0, num: 32 }));
    },
  },
  {
    name: 'a kick with the no-fd flag (polling is not supported)',
    setup: 'memory',
    reason: /^SET_VRING_KICK \(12\): vring 0: polling \(no kick descriptor\) is not supported$/,
    send: (q) => raw(q, R.SET_VRING_KICK, encodeU64(0x100)),
  },
  {
    name: 'a ring started before SET_FEATURES',
    setup: 'handshake',
    reason: /^SET_VRING_KICK \(12\): vring 0 started before SET_FEATURES$/,
    send: (q, bag) => raw(q, R.SET_VRING_KICK, encodeU64(0), [bag.eventfd()]),
  },
  {
    name: 'features that were not offered',
    setup: 'handshake',
    reason: /^SET_FEATURES \(2\): features 0x4000000000000 were not offered$/,
    send: (q) => raw(q, R.SET_FEATURES, encodeU64(VERSION_1 | (1n << 50n))),
  },
  {
    name: 'legacy virtio (no VERSION_1)',
    setup: 'handshake',
    reason: /VIRTIO_F_VERSION_1 not acked: legacy virtio is not supported$/,
    send: (q) => raw(q, R.SET_FEATURES, encodeU64(PROTOCOL_FEATURES_BIT)),
  },
  {
    name: 'protocol features that were not offered',
    setup: 'none',
    reason: /^SET_PROTOCOL_FEATURES \(16\): protocol features 0x20 were not offered$/,
    send: (q) => raw(q, R.SET_PROTOCOL_FEATURES, encodeU64(0x20 | 0x8)),
  },
  {
    name: 'GET_CONFIG without the CONFIG protocol feature',
    setup: 'none',
    reason: /^GET_CONFIG \(24\): VHOST_USER_PROTOCOL_F_CONFIG was not negotiated$/,
    send: (q) => raw(q, R.GET_CONFIG, encodeConfigAccess({ offset: 0, flags: 0, data: new Uint8Array(4) })),
  },
  {
    name: 'a config access beyond 256 bytes',
    setup: 'handshake',
    reason: /^GET_CONFIG \(24\): config access \[250, 266\) beyond 256 bytes$/,
    send: (q) =>
      raw(q, R.GET_CONFIG, encodeConfigAccess({ offset: 250, flags: 0, data: new Uint8Array(16) })),
  },
  {
    name: 'a message cut short by the hang-up',
    setup: 'handshake',
    kind: 'io',
    reason: /^SET_FEATURES \(2\): connection closed inside the message$/,
    send: async (q) => {
      await q.master.sendRaw(encodeMessage(R.SET_FEATURES, V, encodeU64(VERSION_1)).subarray(0, 12));
      q.master.close();
    },
  },
];

describe('vhost-user back-end: malformed messages close only that connection, with a logged reason', function () {
  let dir: string;
  let server: VhostUserServer;
  let logs: string[];

  before(function () {
    requireAddon(this);
  });
  beforeEach(() => {
    dir = socketDir();
    logs = [];
    server = VhostUserServer.listen({
      path: join(dir, 'vu.sock'),
      device: new EchoDevice({ queues: 2, queueSize: 64 }),
      context: new AioContext({ name: 'vu-bad' }),
      log: (line) => logs.push(line),
    });
  });
  afterEach(async () => {
    await server.close();
    removeDir(dir);
  });

  async function prepare(q: FakeQemu, setup: Setup): Promise<void> {
    if (setup === 'none') return;
    await q.handshake();
    if (setup === 'handshake') {
      q.master.needReply = false;
      return;
    }
    await q.master.setFeatures(VERSION_1 | PROTOCOL_FEATURES_BIT);
    if (setup === 'memory') await q.master.setMemTable(q.ram.descriptions(), q.ram.fds());
    q.master.needReply = false;
  }

  for (const c of cases) {
    it(c.name, async () => {
      const fdsBefore = openFdCount();
      const bag = new FdBag();
      const q = FakeQemu.connect(join(dir, 'vu.sock'));
      try {
        const gone = new Promise<VhostUserDisconnectEvent>((resolve) => server.once('disconnect', resolve));
        await prepare(q, c.setup);
        await c.send(q, bag);
        const event = await gone;
        expect(event.kind).to.equal(c.kind ?? 'protocol');
        expect(event.reason).to.match(c.reason);
        if (!q.master.connection.closed) expect(await q.master.waitClosed()).to.equal(true);
        expect(logs.some((l) => l.endsWith(`closing the connection: ${event.reason}`))).to.equal(true);
        expect(server.backend).to.equal(null);
      } finally {
        q.close();
        bag.close();
      }
      // Every descriptor the back-end received with the bad message was closed.
      expect(openFdCount()).to.equal(fdsBefore);

      // The server keeps serving: the next front-end gets a working device.
      const next = FakeQemu.connect(join(dir, 'vu.sock'));
      try {
        await next.handshake();
        const [ring] = await next.start(VERSION_1 | PROTOCOL_FEATURES_BIT, [{ index: 0 }]);
        ring.echo(Uint8Array.of(1, 2, 3));
        await ring.waitUsed(1);
        expect(server.clientCount).to.equal(2);
      } finally {
        next.close();
      }
    });
  }
});
