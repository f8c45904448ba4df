import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import {
  closeFd,
  closeFds,
  createMemfd,
  EventFd,
  mapRegion,
  MappedRegion,
  native,
  OsErrno,
  OsError,
  type ReadResult,
  type ReceivedBytes,
  UnixConnection,
} from '../src/index.js';
import { fdFlags, fdTarget, isOpen, requireAddon } from './helpers.js';

function ok(result: ReadResult): ReceivedBytes {
  if (typeof result === 'number') throw new OsError(result, 'read');
  return result;
}

function openFdCount(): number {
  return readdirSync('/proc/self/fd').length;
}

/** A vhost-user-shaped message: 12-byte header (request, flags, size) then the payload. */
function message(request: number, payload: Uint8Array): Uint8Array {
  const msg = new Uint8Array(12 + payload.length);
  const view = new DataView(msg.buffer);
  view.setUint32(0, request, true);
  view.setUint32(4, 0x1, true);
  view.setUint32(8, payload.length, true);
  msg.set(payload, 12);
  return msg;
}

describe('vhost-user: descriptor passing (SCM_RIGHTS)', function () {
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

  it('a memfd sent over a socketpair is mapped on both ends and writes cross', async () => {
    const memfd = createMemfd('vu-pass', 8192);
    expect(memfd).to.be.greaterThan(2);
    expect(await a.write(Uint8Array.of(42), [memfd])).to.equal(0);
    const got = ok(await b.readExactly(1));
    expect(got.fds).to.have.length(1);
    const received = got.fds[0];
    expect(received).to.not.equal(memfd);
    expect(fdTarget(received))
      .to.equal(fdTarget(memfd))
      .and.to.match(/^\/memfd:vu-pass/);
    expect(fdFlags(received).cloexec, 'MSG_CMSG_CLOEXEC').to.equal(true);

    const mine = mapRegion(memfd, 8192, 0) as MappedRegion;
    const theirs = mapRegion(received, 8192, 0) as MappedRegion;
    mine.bytes[100] = 0xab;
    expect(theirs.bytes[100]).to.equal(0xab);
    theirs.bytes[8191] = 0x5a;
    expect(mine.bytes[8191]).to.equal(0x5a);

    for (const r of [mine, theirs]) expect(r.unmap()).to.equal(0);
    expect(closeFd(received)).to.equal(0);
    expect(closeFd(memfd)).to.equal(0);
  });

  it('reading the 12-byte header first keeps the fds of two queued messages apart', async () => {
    // Three eventfds whose counters tell them apart on the receiving side.
    const kicks = [
      EventFd.create({ initval: 1 }),
      EventFd.create({ initval: 2 }),
      EventFd.create({ initval: 3 }),
    ];
    const first = message(
      3,
      Uint8Array.from({ length: 40 }, (_, i) => i),
    );
    const second = message(12, Uint8Array.of(7, 7, 7, 7, 7, 7, 7, 7));
    // Both messages are queued before anything is read, as when QEMU sends back to back.
    expect(await a.write(first, [kicks[0].fd, kicks[1].fd])).to.equal(0);
    expect(await a.write(second, [kicks[2].fd])).to.equal(0);
    for (const k of kicks) k.close();

    const counters = (fds: number[]): bigint[] =>
      fds.map((fd) => {
        const e = EventFd.adopt(fd);
        const v = e.read();
        e.close();
        return typeof v === 'bigint' ? v : BigInt(v);
      });

    const header1 = ok(await b.readExactly(12));
    const size1 = new DataView(header1.data.buffer).getUint32(8, true);
    expect(counters(header1.fds)).to.deep.equal([1n, 2n]);
    const payload1 = ok(await b.readExactly(size1, { maxFds: 0 }));
    expect(payload1.fds).to.deep.equal([]);
    expect([...payload1.data]).to.deep.equal([...first.subarray(12)]);

    const header2 = ok(await b.readExactly(12));
    expect(new DataView(header2.data.buffer).getUint32(0, true)).to.equal(12);
    expect(counters(header2.fds)).to.deep.equal([3n]);
    const payload2 = ok(await b.readExactly(8));
    expect(payload2.fds).to.deep.equal([]);
    expect([...payload2.data]).to.deep.equal([7, 7, 7, 7, 7, 7, 7, 7]);
  });

  it('a read waits for the rest of a message sent in pieces', async () => {
    const into = new Uint8Array(6);
    const pending = b.readExactly(6, { into });
    expect(await a.write(Uint8Array.of(1, 2))).to.equal(0);
    expect(await a.write(Uint8Array.of(3, 4, 5, 6))).to.equal(0);
    const got = ok(await pending);
    expect(got.data).to.equal(into);
    expect([...into]).to.deep.equal([1, 2, 3, 4, 5, 6]);
  });

  it('more fds than maxFds: fdsTruncated, and the kernel closes the extra ones', async () => {
    const memfds = [createMemfd('t1', 0), createMemfd('t2', 0), createMemfd('t3', 0)];
    expect(await a.write(Uint8Array.of(1), memfds)).to.equal(0);
    closeFds(memfds);
    const before = openFdCount();
    const got = ok(await b.readExactly(1, { maxFds: 1 }));
    expect(got.fdsTruncated).to.equal(true);
    expect(got.fds).to.have.length(1);
    expect(fdTarget(got.fds[0])).to.match(/^\/memfd:t1/);
    expect(openFdCount()).to.equal(before + 1);
    closeFds(got.fds);
  });

  it('end of stream: 0 between messages, -ECONNRESET inside one (and its fds are closed)', async () => {
    a.close();
    expect(await b.readExactly(12)).to.equal(0);

    const [c, d] = UnixConnection.pair();
    const memfd = createMemfd('half', 0);
    expect(await c.write(Uint8Array.of(1, 2, 3, 4, 5), [memfd])).to.equal(0);
    closeFd(memfd);
    const pending = d.readExactly(12); // takes the 5 bytes and the fd, then waits
    c.close();
    const before = openFdCount();
    expect(await pending).to.equal(-OsErrno.ECONNRESET);
    expect(openFdCount(), 'the received fd was closed').to.equal(before - 1);
    d.close();
  });

  it('writing to a closed peer gives -EPIPE (no SIGPIPE)', async () => {
    b.close();
    expect(await a.write(Uint8Array.of(1))).to.equal(-OsErrno.EPIPE);
  });

  it('a write larger than the socket buffer completes as the reader drains; its fd comes first', async () => {
    const big = Uint8Array.from({ length: 8 << 20 }, (_, i) => (i * 7) & 0xff);
    const memfd = createMemfd('big', 0);
    const written = a.write(big, [memfd]);
    const second = a.write(Uint8Array.of(0xee)); // queued behind the first
    const head = ok(await b.readExactly(12));
    expect(head.fds).to.have.length(1);
    const rest = ok(await b.readExactly(big.length - 12, { maxFds: 0 }));
    expect(await written).to.equal(0);
    expect(Buffer.from(rest.data).equals(Buffer.from(big.subarray(12)))).to.equal(true);
    expect([...ok(await b.readExactly(1)).data]).to.deep.equal([0xee]);
    expect(await second).to.equal(0);
    closeFds([...head.fds, memfd]);
  });

  it('closing descriptors: a received fd closes once, then -EBADF', async () => {
    const e = EventFd.create();
    expect(await a.write(Uint8Array.of(0), [e.fd])).to.equal(0);
    const fd = ok(await b.readExactly(1)).fds[0];
    expect(isOpen(fd)).to.equal(true);
    expect(closeFd(fd)).to.equal(0);
    expect(isOpen(fd)).to.equal(false);
    expect(closeFd(fd)).to.equal(-OsErrno.EBADF);
    expect(e.close()).to.equal(0);
    expect(e.close()).to.equal(0); // idempotent on the wrapper
  });

  it('bad arguments are TypeErrors, not errno results', () => {
    const buf = new Uint8Array(4);
    expect(() => native.recvmsg(-1, buf, 1)).to.throw(TypeError, /fd/);
    expect(() => native.recvmsg(a.fd, new Uint8Array(0), 1)).to.throw(TypeError, /non-empty/);
    expect(() => native.recvmsg(a.fd, buf, 254)).to.throw(TypeError, /maxFds/);
    expect(() => native.sendmsg(a.fd, buf, [1.5])).to.throw(TypeError, /fds/);
    expect(() => native.sendmsg(a.fd, buf, new Array<number>(254).fill(0))).to.throw(
      TypeError,
      /at most 253/,
    );
    expect(() => native.sendmsg(a.fd, 'abc' as unknown as Uint8Array, [])).to.throw(TypeError, /Uint8Array/);
    expect(native.recvmsg(a.fd, buf, 0)).to.equal(-OsErrno.EAGAIN);
  });
});
