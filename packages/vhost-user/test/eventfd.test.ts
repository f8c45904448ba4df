import { expect } from 'chai';
import { constants } from 'node:os';
import { EventFd, FdWatcher, native, OsErrno, PollEvent } from '../src/index.js';
import { catchUncaught, fdFlags, fdTarget, isOpen, loopTurns, requireAddon } from './helpers.js';

describe('vhost-user: eventfd', function () {
  const open: EventFd[] = [];
  before(function () {
    requireAddon(this);
  });
  afterEach(() => {
    for (const e of open.splice(0)) e.close();
  });

  function eventfd(options?: { initval?: number; nonblock?: boolean }): EventFd {
    const e = EventFd.create(options);
    open.push(e);
    return e;
  }

  it('is an eventfd, close-on-exec, non-blocking by default', () => {
    const e = eventfd();
    expect(fdTarget(e.fd)).to.equal('anon_inode:[eventfd]');
    expect(fdFlags(e.fd)).to.deep.equal({ cloexec: true, nonblock: true });
    expect(fdFlags(eventfd({ nonblock: false }).fd)).to.deep.equal({ cloexec: true, nonblock: false });
  });

  it('writes add up, a read returns the sum and resets the counter to 0', () => {
    const e = eventfd({ initval: 5 });
    expect(e.write()).to.equal(0);
    expect(e.write(10n)).to.equal(0);
    expect(e.write(2 ** 40)).to.equal(0);
    expect(e.read()).to.equal(16n + 2n ** 40n);
    expect(e.read()).to.equal(-OsErrno.EAGAIN);
  });

  it('non-blocking: -EAGAIN on a zero counter, and on a write that would pass 2^64 - 2', () => {
    const e = eventfd();
    expect(e.read()).to.equal(-OsErrno.EAGAIN);
    expect(e.write(0xffff_ffff_ffff_fffen)).to.equal(0);
    expect(e.write(1n)).to.equal(-OsErrno.EAGAIN);
    expect(e.read()).to.equal(0xffff_ffff_ffff_fffen);
    expect(e.write(0xffff_ffff_ffff_ffffn)).to.equal(-OsErrno.EINVAL);
  });

  it('a blocking eventfd with a non-zero counter reads without blocking', () => {
    const e = eventfd({ initval: 3, nonblock: false });
    expect(e.read()).to.equal(3n);
  });

  it('bad values are TypeErrors', () => {
    const e = eventfd();
    expect(() => e.write(-1)).to.throw(TypeError, /value/);
    expect(() => e.write(-1n)).to.throw(TypeError, /value/);
    expect(() => e.write(2n ** 64n)).to.throw(TypeError, /value/);
    expect(() => e.write(1.5)).to.throw(TypeError, /value/);
    expect(() => native.eventfd(-1, true)).to.throw(TypeError, /initval/);
    expect(() => native.eventfd(0, 1 as unknown as boolean)).to.throw(TypeError, /nonblock/);
  });

  it('close() closes the descriptor; later calls give -EBADF', () => {
    const e = EventFd.create();
    expect(e.close()).to.equal(0);
    expect(isOpen(e.fd)).to.equal(false);
    expect(e.read()).to.equal(-OsErrno.EBADF);
    expect(e.write()).to.equal(-OsErrno.EBADF);
    expect(e.watch(() => undefined)).to.equal(-OsErrno.EBADF);
  });

  describe('readiness (uv_poll)', () => {
    it('the watcher fires on the loop after a write, and not after stop()', async () => {
      const e = eventfd();
      const seen: [number, number][] = [];
      const watcher = FdWatcher.watch(e.fd, 'readable', (status, events) => {
        seen.push([status, events]);
        e.read();
      });
      if (typeof watcher === 'number') throw new Error(`watch: ${watcher}`);
      try {
        await loopTurns();
        expect(seen, 'nothing written yet').to.deep.equal([]);
        e.write();
        expect(seen, 'callbacks come from the loop, not from write()').to.deep.equal([]);
        await loopTurns();
        expect(seen).to.deep.equal([[0, PollEvent.READABLE]]);

        watcher.stop();
        expect(watcher.active).to.equal(false);
        e.write();
        await loopTurns();
        expect(seen).to.have.length(1);

        expect(watcher.start('readable')).to.equal(0);
        await loopTurns();
        expect(seen, 'the counter written while stopped is seen once started').to.have.length(2);
      } finally {
        watcher.close();
      }
      e.write();
      await loopTurns();
      expect(seen).to.have.length(2);
      expect(() => watcher.start('readable')).to.throw(/closed/);
    });

    it('level-triggered: an unread counter fires again on every loop turn', async () => {
      const e = eventfd({ initval: 1 });
      let calls = 0;
      const watcher = FdWatcher.watch(e.fd, 'readable', () => calls++) as FdWatcher;
      await loopTurns(4);
      watcher.close();
      expect(calls).to.be.greaterThan(1);
    });

    it('EventFd.watch calls back for each kick; unwatch() stops it', async () => {
      const e = eventfd();
      const counts: bigint[] = [];
      expect(
        e.watch((status) => {
          expect(status).to.equal(0);
          const v = e.read();
          if (typeof v === 'bigint') counts.push(v);
        }),
      ).to.equal(0);
      expect(fdFlags(e.fd).nonblock).to.equal(true);
      e.write(2);
      e.write(3);
      await loopTurns();
      e.write(1);
      await loopTurns();
      expect(counts).to.deep.equal([5n, 1n]);
      expect(e.watching).to.equal(true);
      e.unwatch();
      expect(e.watching).to.equal(false);
      e.write(1);
      await loopTurns();
      expect(counts).to.deep.equal([5n, 1n]);
    });

    it('EventFd.watch with consume: the counter is read natively, one callback per batch of writes', async () => {
      const e = eventfd();
      const seen: number[] = [];
      expect(e.watch((status) => seen.push(status), { consume: true })).to.equal(0);
      e.write(2);
      e.write(3);
      await loopTurns();
      expect(seen, 'one callback for both writes, not one per loop turn').to.deep.equal([0]);
      expect(e.read(), 'the watcher reset the counter').to.equal(-OsErrno.EAGAIN);
      e.write(1);
      await loopTurns();
      expect(seen).to.deep.equal([0, 0]);
      e.unwatch();
      e.write(1);
      await loopTurns();
      expect(seen).to.have.length(2);
      expect(e.read(), 'unwatched: the counter is left alone').to.equal(1n);
    });

    it('consume: a counter drained by someone else first gives no callback', async () => {
      const e = eventfd();
      let calls = 0;
      e.watch(() => calls++, { consume: true });
      e.write(1);
      // Drained before the loop polls: the watcher's read finds 0 (-EAGAIN) and stays silent.
      expect(e.read()).to.equal(1n);
      await loopTurns();
      expect(calls).to.equal(0);
      expect(e.watching).to.equal(true);
    });

    it('watchEventFd on a descriptor that is not an eventfd: the failed read stops the watcher with -EIO', async () => {
      const pair = native.socketpair();
      if (typeof pair === 'number') throw new Error(`socketpair: ${pair}`);
      const [a, b] = pair;
      try {
        const seen: [number, number][] = [];
        const watcher = FdWatcher.watchEventFd(a, (status, events) => seen.push([status, events]));
        if (typeof watcher === 'number') throw new Error(`watch: ${watcher}`);
        expect(native.sendmsg(b, Uint8Array.of(1, 2, 3), [])).to.equal(3);
        await loopTurns();
        expect(seen, 'a 3-byte read is not a counter').to.deep.equal([[-constants.errno.EIO, 0]]);
        expect(watcher.active).to.equal(false);
        watcher.close();
      } finally {
        native.close(a);
        native.close(b);
      }
    });

    it('writable interest fires at once on an eventfd with room', async () => {
      const e = eventfd();
      let events = 0;
      const watcher = FdWatcher.watch(e.fd, 'both', (_s, ev) => (events |= ev)) as FdWatcher;
      await loopTurns();
      watcher.close();
      expect(events).to.equal(PollEvent.WRITABLE);
    });

    it('one watcher per descriptor (-EEXIST); a closed one frees the descriptor for another', async () => {
      const e = eventfd();
      const first = FdWatcher.watch(e.fd, 'readable', () => undefined) as FdWatcher;
      expect(FdWatcher.watch(e.fd, 'readable', () => undefined)).to.equal(-constants.errno.EEXIST);
      first.close();
      const second = FdWatcher.watch(e.fd, 'readable', () => e.read());
      expect(second).to.be.instanceOf(FdWatcher);
      (second as FdWatcher).close();
    });

    it('a bad descriptor is refused with -EBADF', () => {
      const e = EventFd.create();
      e.close();
      expect(FdWatcher.watch(e.fd, 'readable', () => undefined)).to.equal(-OsErrno.EBADF);
    });

    it('an exception in a callback reaches uncaughtException', async () => {
      const e = eventfd({ initval: 1 });
      const caught = await catchUncaught(async () => {
        const watcher = FdWatcher.watch(e.fd, 'readable', () => {
          watcher.close();
          throw new Error('boom from a poll callback');
        }) as FdWatcher;
        await loopTurns();
      });
      expect(caught).to.have.length(1);
      expect((caught[0] as Error).message).to.equal('boom from a poll callback');
    });
  });
});
