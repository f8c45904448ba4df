import { expect } from 'chai';
import { EventFd, FdWatcher, native, OsErrno } from '../src/index.js';
import { fdFlags, fdTarget, isOpen, loopTurns, requireAddon } from './helpers.js';

/** A timerfd from the addon; the test closes it. */
function timerfd(): number {
  const fd = native.timerfd_create();
  if (fd < 0) throw new Error(`timerfd_create: ${fd}`);
  return fd;
}

/** A second descriptor for the same open timerfd, made by passing it over a unix socket. */
function duplicate(fd: number): number {
  const pair = native.socketpair();
  if (typeof pair === 'number') throw new Error(`socketpair: ${pair}`);
  try {
    expect(native.sendmsg(pair[1], Uint8Array.of(0), [fd])).to.equal(1);
    const chunk = native.recvmsg(pair[0], new Uint8Array(1), 1);
    if (typeof chunk === 'number') throw new Error(`recvmsg: ${chunk}`);
    expect(chunk.fds).to.have.length(1);
    return chunk.fds[0];
  } finally {
    native.close(pair[0]);
    native.close(pair[1]);
  }
}

describe('vhost-user: timerfd', function () {
  const fds: number[] = [];
  before(function () {
    requireAddon(this);
  });
  afterEach(() => {
    for (const fd of fds.splice(0)) native.close(fd);
  });

  function open(): number {
    const fd = timerfd();
    fds.push(fd);
    return fd;
  }

  it('timerfd_create: a timerfd, close-on-exec and non-blocking', () => {
    const fd = open();
    expect(fdTarget(fd)).to.equal('anon_inode:[timerfd]');
    expect(fdFlags(fd)).to.deep.equal({ cloexec: true, nonblock: true });
  });

  it('timerfd_settime: 0 on success, -errno from the kernel (not a timerfd: -EINVAL; closed: -EBADF)', () => {
    const fd = open();
    expect(native.timerfd_settime(fd, 1_000_000_000)).to.equal(0);
    expect(native.timerfd_settime(fd, 2 ** 53), 'the largest delay').to.equal(0);
    expect(native.timerfd_settime(fd, 0), 'disarm').to.equal(0);
    const e = EventFd.create();
    expect(native.timerfd_settime(e.fd, 1)).to.equal(-OsErrno.EINVAL);
    e.close();
    const closed = timerfd();
    native.close(closed);
    expect(isOpen(closed)).to.equal(false);
    expect(native.timerfd_settime(closed, 1)).to.equal(-OsErrno.EBADF);
  });

  it('timerfd_settime: a delay that is negative, not an integer, not a number or above 2^53 is a TypeError', () => {
    const fd = open();
    for (const bad of [-1, 1.5, 2 ** 53 + 2, NaN, Infinity, '5', 5n, undefined]) {
      expect(() => native.timerfd_settime(fd, bad as number), String(bad)).to.throw(TypeError, /delayNs/);
    }
    expect(() => native.timerfd_settime(-1, 1)).to.throw(TypeError, /fd/);
  });

  it('an expired timerfd wakes an eventfd-mode watcher once (one-shot), and the count is consumed', async () => {
    const fd = open();
    let calls = 0;
    let wake: () => void = () => undefined;
    const fired = new Promise<void>((resolve) => (wake = resolve));
    const watcher = FdWatcher.watchEventFd(fd, (status) => {
      expect(status).to.equal(0);
      calls++;
      wake();
    });
    if (typeof watcher === 'number') throw new Error(`watch: ${watcher}`);
    try {
      expect(native.timerfd_settime(fd, 1)).to.equal(0);
      await fired;
      await loopTurns(4);
    } finally {
      watcher.close();
    }
    expect(calls, 'one expiry, one callback').to.equal(1);
    expect(native.eventfd_read(fd), 'the watcher read the count').to.equal(-OsErrno.EAGAIN);
  });

  it('disarming (or re-arming) resets a pending expiry: a read gives -EAGAIN', () => {
    const fd = open();
    expect(native.timerfd_settime(fd, 1)).to.equal(0);
    // Wait on the descriptor itself (not on wall time): a blocking-style poll by reading.
    let count: bigint | number = -OsErrno.EAGAIN;
    while (count === -OsErrno.EAGAIN) count = native.eventfd_read(fd);
    expect(count).to.equal(1n);
    expect(native.timerfd_settime(fd, 1)).to.equal(0);
    expect(native.timerfd_settime(fd, 0)).to.equal(0);
    expect(native.eventfd_read(fd)).to.equal(-OsErrno.EAGAIN);
  });

  it('eventfd mode: readiness whose count was read first (-EAGAIN) neither calls back nor stops the watcher', async () => {
    // Two descriptors of one timerfd, each with its own watcher: both are reported readable by
    // the same epoll_wait, the first callback's native read takes the count, and the second
    // read finds none (-EAGAIN). That one must stay silent and keep watching.
    const fd = open();
    const dup = duplicate(fd);
    fds.push(dup);
    const seen: string[] = [];
    let wake: () => void = () => undefined;
    const make = (name: string, d: number): FdWatcher => {
      const w = FdWatcher.watchEventFd(d, (status) => {
        seen.push(`${name}:${status}`);
        wake();
      });
      if (typeof w === 'number') throw new Error(`watch: ${w}`);
      return w;
    };
    const watchers = new Map([
      ['a', make('a', fd)],
      ['b', make('b', dup)],
    ]);
    try {
      const first = new Promise<void>((resolve) => (wake = resolve));
      expect(native.timerfd_settime(fd, 1)).to.equal(0);
      await first;
      await loopTurns(4);
      expect(seen, 'exactly one callback for one expiry').to.have.length(1);
      const [winner, status] = seen[0].split(':');
      expect(status).to.equal('0');
      const loser = winner === 'a' ? 'b' : 'a';
      expect(watchers.get(loser)!.active, 'the watcher that found no count still watches').to.equal(true);

      watchers.get(winner)!.close();
      const second = new Promise<void>((resolve) => (wake = resolve));
      expect(native.timerfd_settime(fd, 1)).to.equal(0);
      await second;
      expect(seen).to.deep.equal([`${winner}:0`, `${loser}:0`]);
    } finally {
      for (const w of watchers.values()) w.close();
    }
  });
});
