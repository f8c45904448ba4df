import { expect } from 'chai';
import { AioContext, ConfigError, VirtualClock } from '@vmkit/core';
import {
  BucketType,
  ThrottleDirection,
  throttleConfigInit,
  ThrottleGroupMember,
  ThrottleGroupRegistry,
  type ThrottleConfig,
} from '../src/throttle/index.js';

const R = ThrottleDirection.read;
const W = ThrottleDirection.write;
const MS = 1_000_000;

/**
 * An ops limit of 10/s without burst: the bucket holds avg/10 = 1 op, so two requests pass at
 * once (the second finds level 1, not above the bucket) and then one goes every 100 ms. Every
 * number involved is exact in binary floating point, so release times are exact.
 */
function opsConfig(read: number, write = 0): ThrottleConfig {
  const cfg = throttleConfigInit();
  cfg.buckets[BucketType.opsRead].avg = read;
  cfg.buckets[BucketType.opsWrite].avg = write;
  return cfg;
}

class Harness {
  readonly clock = new VirtualClock();
  readonly ctx = new AioContext({ name: 'main', clock: this.clock });
  readonly registry = new ThrottleGroupRegistry(this.clock);
  /** `<tag>@<ms>` per released request, in release order. */
  readonly log: string[] = [];

  member(label: string, group = 'g'): ThrottleGroupMember {
    const m = new ThrottleGroupMember(label);
    m.register(this.registry, group, this.ctx);
    return m;
  }

  /** Issues a request the way a BlockBackend does and logs when it is released. */
  io(m: ThrottleGroupMember, dir: ThrottleDirection, tag: string, bytes = 512): void {
    const p = m.intercept(bytes, dir);
    if (p === undefined) this.released(tag);
    else void p.then(() => this.released(tag));
  }

  /** Lets promise continuations run without moving time. */
  async settle(): Promise<void> {
    await this.clock.advance(0);
  }

  private released(tag: string): void {
    this.log.push(`${tag}@${this.clock.now() / MS}`);
  }
}

describe('throttle: groups (test-throttle.c test_groups)', () => {
  it('T12: members share the group state by name; a config set through one is seen by all', () => {
    const h = new Harness();
    const tgm1 = new ThrottleGroupMember('blk1');
    const tgm2 = new ThrottleGroupMember('blk2');
    const tgm3 = new ThrottleGroupMember('blk3');
    expect(tgm1.throttleState).to.equal(null);
    expect(tgm2.throttleState).to.equal(null);
    expect(tgm3.throttleState).to.equal(null);

    tgm1.register(h.registry, 'bar', h.ctx);
    tgm2.register(h.registry, 'foo', h.ctx);
    tgm3.register(h.registry, 'bar', h.ctx);
    expect(tgm1.throttleState).to.not.equal(null);
    expect(tgm2.throttleState).to.not.equal(null);
    expect(tgm3.throttleState).to.not.equal(null);
    expect(tgm1.groupName).to.equal('bar');
    expect(tgm2.groupName).to.equal('foo');
    expect(tgm1.throttleState).to.equal(tgm3.throttleState);
    expect(tgm1.throttleState).to.not.equal(tgm2.throttleState);
    expect(h.registry.names).to.deep.equal(['bar', 'foo']);
    expect(h.registry.byName('bar')!.refcount).to.equal(2);

    let cfg1 = throttleConfigInit();
    cfg1.buckets[BucketType.bpsRead].avg = 500000;
    cfg1.buckets[BucketType.bpsWrite].avg = 285000;
    cfg1.buckets[BucketType.opsRead].avg = 20000;
    cfg1.buckets[BucketType.opsWrite].avg = 12000;
    tgm1.setConfig(cfg1);
    cfg1 = tgm1.getConfig();
    let cfg2 = tgm3.getConfig();
    expect(cfg2).to.deep.equal(cfg1);
    expect(cfg2.buckets[BucketType.opsWrite].avg).to.equal(12000);
    expect(tgm2.getConfig().buckets[BucketType.opsWrite].avg, 'other group unchanged').to.equal(0);

    cfg2.buckets[BucketType.bpsRead].avg = 4547;
    cfg2.buckets[BucketType.bpsWrite].avg = 1349;
    cfg2.buckets[BucketType.opsRead].avg = 123;
    cfg2.buckets[BucketType.opsWrite].avg = 86;
    tgm3.setConfig(cfg2);
    cfg1 = tgm1.getConfig();
    cfg2 = tgm3.getConfig();
    expect(cfg1).to.deep.equal(cfg2);
    expect(cfg1.buckets[BucketType.opsWrite].avg).to.equal(86);

    tgm1.unregister();
    tgm2.unregister();
    tgm3.unregister();
    expect(tgm1.throttleState).to.equal(null);
    expect(tgm2.throttleState).to.equal(null);
    expect(tgm3.throttleState).to.equal(null);
    expect(h.registry.names, 'groups are freed with their last member').to.deep.equal([]);
  });

  it('setConfig refuses an invalid configuration with the throttle_is_valid text', () => {
    const h = new Harness();
    const m = h.member('a');
    const cfg = opsConfig(10);
    cfg.buckets[BucketType.opsTotal].avg = 10;
    expect(() => m.setConfig(cfg))
      .to.throw(ConfigError)
      .with.property(
        'message',
        'bps/iops/max total values and read/write values cannot be used at the same time',
      );
    expect(() => new ThrottleGroupMember('x').setConfig(opsConfig(1))).to.throw(ConfigError);
  });
});

/*
 * The release timelines of the round-robin, FIFO-by-size and config-restart tests below were
 * also checked against QEMU 7.2 under qtest (null-aio drives driven through HMP qemu-io, stats
 * read between clock steps): QEMU releases the same requests at the same virtual times.
 */
describe('throttle: group scheduling (block/throttle-groups.c)', () => {
  it('members are inserted at the head; the first member takes both tokens', () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    const c = h.member('C');
    const g = a.group!;
    expect(g.members.map((m) => m.label)).to.deep.equal(['C', 'B', 'A']);
    expect(g.tokens).to.deep.equal([a, a]);
    expect(g.next(c)).to.equal(b);
    expect(g.next(b)).to.equal(a);
    expect(g.next(a), 'wraps from the last to the first').to.equal(c);
  });

  it('round robin in list order, starting after the token holder, one request per turn', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    const c = h.member('C');
    a.setConfig(opsConfig(10));
    for (let i = 1; i <= 3; i++) {
      h.io(a, R, `A${i}`);
      h.io(b, R, `B${i}`);
      h.io(c, R, `C${i}`);
    }
    // A1 and B1 fill the 1-op bucket; C1 must wait and C's timer becomes the group's timer.
    expect(h.log).to.deep.equal(['A1@0', 'B1@0']);
    expect(a.group!.tokens[R]).to.equal(c);
    expect([a.queuedRequests(R), b.queuedRequests(R), c.queuedRequests(R)]).to.deep.equal([2, 2, 3]);
    await h.clock.advance(1000 * MS);
    // After C (the token holder) the list order C, B, A continues with B, then A, then C...
    expect(h.log).to.deep.equal([
      'A1@0',
      'B1@0',
      'C1@100',
      'B2@200',
      'A2@300',
      'C2@400',
      'B3@500',
      'A3@600',
      'C3@700',
    ]);
    expect(a.group!.pendingTotal).to.deep.equal([0, 0]);
  });

  it('one armed timer per direction per group, on the member whose turn it is', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    a.setConfig(opsConfig(10, 10));
    const armed = (dir: ThrottleDirection): string[] =>
      [a, b].filter((m) => m.timers!.timers[dir]!.pending).map((m) => m.label);
    for (let i = 1; i <= 3; i++) {
      h.io(a, R, `rA${i}`);
      h.io(b, R, `rB${i}`);
      h.io(b, W, `wB${i}`);
      h.io(a, W, `wA${i}`);
      expect(armed(R).length).to.be.at.most(1);
      expect(armed(W).length).to.be.at.most(1);
    }
    expect(armed(R)).to.deep.equal(['A']);
    expect(armed(W)).to.deep.equal(['B']);
    expect(a.group!.anyTimerArmed).to.deep.equal([true, true]);
    expect(h.clock.pendingTimers).to.equal(2);
    for (let t = 0; t < 10; t++) {
      await h.clock.advance(50 * MS);
      expect(armed(R).length).to.be.at.most(1);
      expect(armed(W).length).to.be.at.most(1);
    }
    expect(h.log.filter((x) => x.startsWith('r'))).to.deep.equal([
      'rA1@0',
      'rB1@0',
      'rA2@100',
      'rB2@200',
      'rA3@300',
      'rB3@400',
    ]);
    expect(h.log.filter((x) => x.startsWith('w'))).to.deep.equal([
      'wB1@0',
      'wA1@0',
      'wB2@100',
      'wA2@200',
      'wB3@300',
      'wA3@400',
    ]);
    expect(h.clock.pendingTimers).to.equal(0);
    expect(a.group!.anyTimerArmed).to.deep.equal([false, false]);
  });

  it('each member is FIFO: requests are released in submission order whatever their size', async () => {
    const h = new Harness();
    const a = h.member('A');
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.bpsRead].avg = 5120; // bucket 512 bytes
    a.setConfig(cfg);
    h.io(a, R, 'big', 4096);
    h.io(a, R, 'small1', 1);
    h.io(a, R, 'small2', 1);
    h.io(a, R, 'mid', 1024);
    // big: level 4096, 3584 over the 512-byte bucket = 700 ms. Each release is then scheduled
    // from the level left: small1 and small2 add 1 byte each (1/5120 s = 195312 ns, truncated).
    await h.clock.advance(2000 * MS);
    expect(h.log.map((x) => x.split('@')[0])).to.deep.equal(['big', 'small1', 'small2', 'mid']);
    expect(h.log[0]).to.equal('big@0');
    expect(h.log[1]).to.equal('small1@700');
    expect(h.log[2]).to.equal('small2@700.195312');
    expect(h.log[3]).to.equal('mid@700.390624');
  });

  it('a member with queued requests queues new ones even when the token holder may go', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    a.setConfig(opsConfig(10));
    h.io(a, R, 'A1');
    h.io(a, R, 'A2');
    h.io(a, R, 'A3'); // A's timer @100
    b.ioLimitsDisabledInc(); // B starts draining
    h.io(b, R, 'B1'); // B has nothing queued, so it takes its turn behind A's armed timer
    expect(b.queuedRequests(R)).to.equal(1);
    // The next token for A is B, which is draining and so never has to wait; A4 still queues
    // behind A3 (pending_reqs), keeping A's requests in order.
    expect(a.nextThrottleToken(R)).to.equal(b);
    expect(b.scheduleTimer(R)).to.equal(false);
    h.io(a, R, 'A4');
    expect(a.queuedRequests(R)).to.equal(2);
    await h.clock.advance(1000 * MS);
    // @100 A3 goes; the token (B) may go, so A's own next request goes too (preference to the
    // current member), then B's timer is armed at now and releases B1.
    expect(h.log).to.deep.equal(['A1@0', 'A2@0', 'A3@100', 'A4@100', 'B1@100']);
    b.ioLimitsDisabledDec();
  });

  it('a draining member releases its queue at once; the others keep the group rate', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    a.setConfig(opsConfig(10));
    h.io(a, R, 'A1');
    h.io(a, R, 'A2');
    h.io(a, R, 'A3'); // A's timer @100 holds the group
    h.io(b, R, 'B1');
    h.io(b, R, 'B2');
    h.io(a, R, 'A4');
    a.ioLimitsDisabledInc(); // drained_begin: restart A, whose timer fires now
    await h.settle();
    expect(h.log).to.deep.equal(['A1@0', 'A2@0', 'A3@0', 'A4@0']);
    expect(a.queuedRequests(R)).to.equal(0);
    // All four were accounted: level 4, 3 ops over the bucket, so B waits 300 ms.
    expect(b.timers!.timers[R]!.deadline).to.equal(300 * MS);
    // While draining, new requests of A do not wait for A's own limit...
    h.io(a, R, 'A5');
    // ...but queue behind another member's armed timer (QEMU's next_throttle_token only
    // short-cuts for a draining member that already has queued requests).
    expect(a.queuedRequests(R)).to.equal(1);
    await h.clock.advance(1000 * MS);
    // @300 B1 goes; the next token is A, which being drained may go, so B's own B2 goes first
    // (preference to the current member), then A's timer is armed at now for A5.
    expect(h.log.slice(4)).to.deep.equal(['B1@300', 'B2@300', 'A5@300']);
    a.ioLimitsDisabledDec();
    expect(a.ioLimitsDisabled).to.equal(0);
    expect(() => a.ioLimitsDisabledDec()).to.throw();
  });

  it('while io limits are disabled and nobody else waits, requests pass without waiting', async () => {
    const h = new Harness();
    const a = h.member('A');
    a.setConfig(opsConfig(10));
    a.ioLimitsDisabledInc();
    for (let i = 1; i <= 5; i++) h.io(a, R, `A${i}`);
    expect(h.log).to.deep.equal(['A1@0', 'A2@0', 'A3@0', 'A4@0', 'A5@0']);
    a.ioLimitsDisabledDec();
    // They were accounted: level 5, so the next request waits 400 ms.
    h.io(a, R, 'A6');
    await h.clock.advance(1000 * MS);
    expect(h.log[5]).to.equal('A6@400');
  });

  it('a config change restarts the member: its armed timer fires now under the new limits', async () => {
    const h = new Harness();
    const a = h.member('A');
    a.setConfig(opsConfig(1)); // bucket 0.1 op: the second request waits 0.9 s
    for (let i = 1; i <= 4; i++) h.io(a, R, `A${i}`);
    expect(a.timers!.timers[R]!.deadline).to.equal(900 * MS);
    await h.clock.advance(100 * MS);
    expect(h.log).to.deep.equal(['A1@0']);
    a.setConfig(opsConfig(10)); // levels zeroed; A2 and A3 fit the new 1-op bucket
    await h.settle();
    expect(h.log).to.deep.equal(['A1@0', 'A2@100', 'A3@100']);
    await h.clock.advance(1000 * MS);
    expect(h.log).to.deep.equal(['A1@0', 'A2@100', 'A3@100', 'A4@200']);
  });

  it('unregister passes held tokens to the next member, or to nobody when last', () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    const c = h.member('C');
    const g = a.group!;
    expect(g.tokens).to.deep.equal([a, a]);
    a.unregister();
    expect(g.tokens, 'A was last in the list: wraps to C').to.deep.equal([c, c]);
    expect(g.members).to.deep.equal([c, b]);
    c.unregister();
    expect(g.tokens).to.deep.equal([b, b]);
    expect(h.registry.exists('g')).to.equal(true);
    b.unregister();
    expect(g.tokens).to.deep.equal([null, null]);
    expect(h.registry.exists('g')).to.equal(false);
    b.unregister(); // no-op when not registered
    expect(b.group).to.equal(null);
  });

  it('a token holder that leaves hands the turn on: the remaining members keep their order', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    const c = h.member('C');
    a.setConfig(opsConfig(10));
    h.io(b, R, 'B1');
    h.io(b, R, 'B2');
    h.io(c, R, 'C1'); // C's timer @100; tokens[R] = C
    h.io(b, R, 'B3');
    expect(a.group!.tokens[R]).to.equal(c);
    a.unregister(); // A holds no turn: nothing changes
    expect(a.group).to.equal(null);
    await h.clock.advance(500 * MS);
    expect(h.log).to.deep.equal(['B1@0', 'B2@0', 'C1@100', 'B3@200']);
  });

  it('unregister refuses a member with throttled requests (drain first)', () => {
    const h = new Harness();
    const a = h.member('A');
    a.setConfig(opsConfig(10));
    h.io(a, R, 'A1');
    h.io(a, R, 'A2');
    h.io(a, R, 'A3');
    expect(() => a.unregister()).to.throw(/drain first/);
    a.ioLimitsDisabledInc();
    a.unregister();
    a.ioLimitsDisabledDec();
    expect(h.registry.exists('g')).to.equal(false);
  });

  it('register twice is refused', () => {
    const h = new Harness();
    const a = h.member('A');
    expect(() => a.register(h.registry, 'other', h.ctx)).to.throw(ConfigError, /already in group 'g'/);
  });

  it('detaching a member whose timer is armed schedules the next member, so the group does not stall', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    a.setConfig(opsConfig(10));
    h.io(b, R, 'B1');
    h.io(b, R, 'B2');
    h.io(b, R, 'B3'); // B's timer @100
    // Move the group's read timer to A, which has nothing queued (as when a timer armed "now"
    // for A is still pending when A's queue was flushed by other means).
    b.timers!.timers[R]!.cancel();
    a.timers!.timers[R]!.arm(100 * MS);
    a.group!.tokens[R] = a;
    a.detachAioContext();
    expect(a.timers!.areInitialized).to.equal(false);
    expect(a.aioContext).to.equal(null);
    // B's turn was recomputed: level 2 at t = 0, 1 op over the bucket, so 100 ms.
    expect(b.timers!.timers[R]!.deadline).to.equal(100 * MS);
    expect(a.group!.tokens[R]).to.equal(b);
    await h.clock.advance(200 * MS);
    expect(h.log).to.deep.equal(['B1@0', 'B2@0', 'B3@100']);

    const iothread = new AioContext({ name: 'iothread0', clock: h.clock });
    a.attachAioContext(iothread);
    expect(a.aioContext).to.equal(iothread);
    expect(a.timers!.aioContext).to.equal(iothread);
    h.io(a, R, 'A1');
    h.io(a, R, 'A2'); // level (2 - 2 + 1) + 1: waits 100 ms on A's timer in the iothread
    await h.clock.advance(200 * MS);
    expect(h.log.slice(3)).to.deep.equal(['A1@200', 'A2@300']);
  });

  it('detach refuses a member with throttled requests', () => {
    const h = new Harness();
    const a = h.member('A');
    a.setConfig(opsConfig(10));
    for (let i = 0; i < 3; i++) h.io(a, R, `A${i}`);
    expect(() => a.detachAioContext()).to.throw(/AioContext change/);
  });

  it('a timer firing with an empty queue schedules the next member that waits', async () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    a.setConfig(opsConfig(10));
    h.io(b, R, 'B1');
    h.io(b, R, 'B2');
    h.io(b, R, 'B3'); // B's timer @100
    a.restartQueue(R); // A's queue is empty: schedule_next_request finds B, whose timer is armed
    expect(b.timers!.timers[R]!.deadline).to.equal(100 * MS);
    expect(a.restartPending).to.equal(0);
    await h.clock.advance(100 * MS);
    expect(h.log).to.deep.equal(['B1@0', 'B2@0', 'B3@100']);
  });

  it('fast path: a group without limits does no bucket work and arms nothing', () => {
    const h = new Harness();
    const a = h.member('A');
    const b = h.member('B');
    for (let i = 0; i < 1000; i++) {
      expect(a.intercept(4096, R)).to.equal(undefined);
      expect(b.intercept(4096, W)).to.equal(undefined);
    }
    expect(a.throttleState!.cfg.buckets.every((x) => x.level === 0)).to.equal(true);
    expect(h.clock.pendingTimers).to.equal(0);
    // An unregistered member passes everything.
    expect(new ThrottleGroupMember('x').intercept(1, R)).to.equal(undefined);
  });

  it('requests without any limit in their direction are accounted but never wait', async () => {
    const h = new Harness();
    const a = h.member('A');
    a.setConfig(opsConfig(10, 0));
    for (let i = 1; i <= 5; i++) h.io(a, W, `W${i}`);
    expect(h.log).to.deep.equal(['W1@0', 'W2@0', 'W3@0', 'W4@0', 'W5@0']);
    expect(a.throttleState!.cfg.buckets[BucketType.opsWrite].level).to.equal(5);
    await h.settle();
  });
});
