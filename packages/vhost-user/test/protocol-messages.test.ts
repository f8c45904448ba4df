import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import {
  decodeConfigAccess,
  decodeMemoryTable,
  decodeU64,
  decodeVringAddress,
  decodeVringState,
  encodeConfigAccess,
  encodeMemoryTable,
  encodeMessage,
  encodeReply,
  encodeU64,
  encodeVringAddress,
  encodeVringState,
  EventFd,
  isReadEnd,
  readMessage,
  UnixConnection,
  VHOST_USER_HEADER_SIZE,
  VHOST_USER_MAX_PAYLOAD,
  VhostUserFlag,
  VhostUserMaster,
  VhostUserProtocolError,
  VhostUserRequest as R,
  vhostUserRequestName,
  type VhostUserMessage,
  type VhostUserReadEnd,
} from '../src/index.js';
import { fdTarget, isOpen, requireAddon } from './helpers.js';

const V = VhostUserFlag.VERSION;

function message(request: number, payload: Uint8Array, fds: number[] = []): VhostUserMessage {
  return { request, flags: V, size: payload.length, payload, fds };
}

function ok(result: VhostUserMessage | VhostUserReadEnd): VhostUserMessage {
  if (isReadEnd(result)) throw new Error(`no message: ${result.reason}`);
  return result;
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

describe('vhost-user protocol: payload layouts', () => {
  it('the header is request, flags, size (little-endian u32s); replies carry version 1 and REPLY', () => {
    const bytes = encodeReply(R.GET_FEATURES, encodeU64(0x1_0000_0002n));
    expect(bytes.length).to.equal(VHOST_USER_HEADER_SIZE + 8);
    expect(Array.from(bytes.subarray(0, 12))).to.deep.equal([1, 0, 0, 0, 5, 0, 0, 0, 8, 0, 0, 0]);
    expect(Array.from(bytes.subarray(12))).to.deep.equal([2, 0, 0, 0, 1, 0, 0, 0]);
  });

  it('u64 and vring state round-trip; a wrong size names the request', () => {
    expect(decodeU64(message(R.SET_FEATURES, encodeU64((1n << 63n) | 5n)))).to.equal((1n << 63n) | 5n);
    expect(
      decodeVringState(message(R.SET_VRING_NUM, encodeVringState({ index: 3, num: 256 }))),
    ).to.deep.equal({
      index: 3,
      num: 256,
    });
    expect(() => decodeU64(message(R.SET_FEATURES, new Uint8Array(9)))).to.throw(
      VhostUserProtocolError,
      'SET_FEATURES (2): payload is 9 bytes, 8 expected',
    );
  });

  it('vring address: index, flags, then desc, used, avail, log (used before avail)', () => {
    const addr = { index: 1, flags: 1, desc: 0x1000n, used: 0x3000n, avail: 0x2000n, log: 0x4000n };
    const bytes = encodeVringAddress(addr);
    expect(bytes.length).to.equal(40);
    const view = new DataView(bytes.buffer);
    expect(view.getBigUint64(16, true)).to.equal(0x3000n);
    expect(view.getBigUint64(24, true)).to.equal(0x2000n);
    expect(decodeVringAddress(message(R.SET_VRING_ADDR, bytes))).to.deep.equal(addr);
  });

  it('memory table: the regions sent, or a payload padded to 8 regions; anything else is refused', () => {
    const regions = [
      { guestPhysAddr: 0n, memorySize: 0xa0000n, userspaceAddr: 0x7f00_0000_0000n, mmapOffset: 0n },
      {
        guestPhysAddr: 0xc0000n,
        memorySize: 0x7f40000n,
        userspaceAddr: 0x7f00_000c_0000n,
        mmapOffset: 0xc0000n,
      },
    ];
    const exact = encodeMemoryTable(regions);
    expect(exact.length).to.equal(8 + 2 * 32);
    expect(decodeMemoryTable(message(R.SET_MEM_TABLE, exact))).to.deep.equal(regions);
    const padded = new Uint8Array(8 + 8 * 32);
    padded.set(exact);
    expect(decodeMemoryTable(message(R.SET_MEM_TABLE, padded))).to.deep.equal(regions);
    expect(() => decodeMemoryTable(message(R.SET_MEM_TABLE, exact.subarray(0, 40)))).to.throw(
      VhostUserProtocolError,
      'payload is 40 bytes, 72 expected for 2 regions',
    );
    expect(() => decodeMemoryTable(message(R.SET_MEM_TABLE, new Uint8Array(4)))).to.throw(
      VhostUserProtocolError,
    );
  });

  it('config access: offset, size, flags, then size bytes; size and range are checked', () => {
    const data = Uint8Array.of(1, 2, 3);
    const bytes = encodeConfigAccess({ offset: 4, flags: 1, data });
    const decoded = decodeConfigAccess(message(R.SET_CONFIG, bytes));
    expect(decoded.offset).to.equal(4);
    expect(decoded.flags).to.equal(1);
    expect(Array.from(decoded.data)).to.deep.equal([1, 2, 3]);
    expect(() => decodeConfigAccess(message(R.SET_CONFIG, bytes.subarray(0, 14)))).to.throw(
      VhostUserProtocolError,
      'payload is 14 bytes, 15 expected for a 3-byte access',
    );
    const huge = encodeConfigAccess({ offset: 0, flags: 0, data: new Uint8Array(257) });
    expect(() => decodeConfigAccess(message(R.GET_CONFIG, huge))).to.throw(
      VhostUserProtocolError,
      'at most 256',
    );
  });

  it('requests are named with their number; unknown numbers too', () => {
    expect(vhostUserRequestName(R.GET_VRING_BASE)).to.equal('GET_VRING_BASE (11)');
    expect(vhostUserRequestName(1234)).to.equal('request 1234');
  });
});

describe('vhost-user protocol: reading messages from a socket', function () {
  let a: UnixConnection;
  let b: UnixConnection;

  before(function () {
    requireAddon(this);
  });
  beforeEach(() => {
    [a, b] = UnixConnection.pair();
  });
  afterEach(() => {
    a.close();
    b.close();
  });

  it('descriptors stay with the message they came with (header read first, then the payload)', async () => {
    const kick = EventFd.create();
    const call0 = EventFd.create();
    const call1 = EventFd.create();
    try {
      await a.write(encodeMessage(R.SET_VRING_KICK, V, encodeU64(0)), [kick.fd]);
      await a.write(encodeMessage(R.SET_OWNER, V));
      await a.write(encodeMessage(R.SET_VRING_CALL, V, encodeU64(0)), [call0.fd, call1.fd]);
      const first = ok(await readMessage(b, { direction: 'request' }));
      const second = ok(await readMessage(b, { direction: 'request' }));
      const third = ok(await readMessage(b, { direction: 'request' }));
      expect([first.request, second.request, third.request]).to.deep.equal([
        R.SET_VRING_KICK,
        R.SET_OWNER,
        R.SET_VRING_CALL,
      ]);
      expect(first.fds).to.have.length(1);
      expect(second.fds).to.have.length(0);
      expect(third.fds).to.have.length(2);
      for (const fd of [...first.fds, ...third.fds]) expect(fdTarget(fd)).to.equal('anon_inode:[eventfd]');
      // The received copy of `kick` is the same counter.
      kick.write(3);
      const received = EventFd.adopt(first.fds[0]);
      expect(received.read()).to.equal(3n);
      received.close();
      for (const fd of third.fds) EventFd.adopt(fd).close();
    } finally {
      kick.close();
      call0.close();
      call1.close();
    }
  });

  it('a bad header ends reading with the reason, and its descriptors are closed', async () => {
    const before = openFdCount();
    const e = EventFd.create();
    const bad = encodeMessage(R.SET_OWNER, 0x3);
    await a.write(bad, [e.fd]);
    e.close();
    const end = await readMessage(b, { direction: 'request' });
    expect(end).to.deep.equal({ end: 'malformed', reason: 'SET_OWNER (3): protocol version 3, 1 expected' });
    expect(openFdCount()).to.equal(before);
  });

  it('unknown flag bits, a reply in the request direction, a request in the reply direction', async () => {
    await a.write(encodeMessage(R.SET_OWNER, V | 0x10));
    expect(await readMessage(b, { direction: 'request' })).to.include({ end: 'malformed' });
    // (Without payloads: after a malformed header the stream position is lost; the caller closes.)
    await a.write(encodeReply(R.GET_FEATURES));
    expect(await readMessage(b, { direction: 'request' })).to.deep.equal({
      end: 'malformed',
      reason: 'GET_FEATURES (1): a reply where a request was expected',
    });
    await a.write(encodeMessage(R.GET_FEATURES, V));
    expect(await readMessage(b, { direction: 'reply' })).to.deep.equal({
      end: 'malformed',
      reason: 'GET_FEATURES (1): a request where a reply was expected',
    });
  });

  it('a size beyond the limit is refused without reading the payload', async () => {
    const header = encodeMessage(R.SET_CONFIG, V);
    new DataView(header.buffer).setUint32(8, VHOST_USER_MAX_PAYLOAD + 1, true);
    await a.write(header);
    expect(await readMessage(b, { direction: 'request' })).to.deep.equal({
      end: 'malformed',
      reason: `SET_CONFIG (25): payload size ${VHOST_USER_MAX_PAYLOAD + 1} exceeds the ${VHOST_USER_MAX_PAYLOAD}-byte limit`,
    });
  });

  it('more than 8 descriptors on a message are refused (the kernel closed the extra ones)', async () => {
    const fds = Array.from({ length: 9 }, () => EventFd.create());
    try {
      await a.write(
        encodeMessage(R.SET_OWNER, V),
        fds.map((e) => e.fd),
      );
      const end = await readMessage(b, { direction: 'request' });
      expect(end).to.deep.equal({
        end: 'malformed',
        reason: 'SET_OWNER (3): more than 8 file descriptors attached',
      });
    } finally {
      for (const e of fds) e.close();
    }
  });

  it('end of stream between messages is eof; inside a message it is an I/O end', async () => {
    await a.write(encodeMessage(R.SET_FEATURES, V, encodeU64(1)).subarray(0, 14));
    a.close();
    expect(await readMessage(b, { direction: 'request' })).to.include({ end: 'io' });
    expect(await readMessage(b, { direction: 'request' })).to.deep.equal({
      end: 'eof',
      reason: 'peer closed the connection',
    });
  });

  it('VhostUserMaster checks that a reply answers its request', async () => {
    const master = new VhostUserMaster(a);
    const features = master.getFeatures();
    const request = ok(await readMessage(b, { direction: 'request' }));
    expect(request.request).to.equal(R.GET_FEATURES);
    await b.write(encodeReply(R.GET_PROTOCOL_FEATURES, encodeU64(0)));
    let error: unknown;
    try {
      await features;
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(VhostUserProtocolError);
    expect((error as Error).message).to.equal(
      'reply to GET_PROTOCOL_FEATURES (15) while waiting for GET_FEATURES (1)',
    );
    expect(isOpen(a.fd)).to.equal(true);
  });
});
