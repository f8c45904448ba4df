import { expect } from 'chai';
import { AioContext, VirtualClock } from '../src/index.js';

const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

/** Tracks when a promise settles, without awaiting it. */
function track(p: Promise<void>): { done: boolean; error: unknown } {
  const state = { done: false, error: undefined as unknown };
  p.then(
    () => (state.done = true),
    (e: unknown) => {
      state.done = true;
      state.error = e;
    },
  );
  return state;
}

describe('loop: waitWhile (AIO_WAIT_WHILE) and kick', () => {
  let ctx: AioContext;
  beforeEach(() => {
    ctx = new AioContext({ name: 'w', clock: new VirtualClock() });
  });

  it('resolves at the next microtask when the condition is already false', async () => {
    let evaluations = 0;
    const s = track(
      ctx.waitWhile(() => {
        evaluations++;
        return false;
      }),
    );
    expect(evaluations).to.equal(1);
    expect(s.done).to.equal(false);
    await Promise.resolve();
    await Promise.resolve();
    expect(s.done).to.equal(true);
  });

  it('is re-evaluated after kick(), in a microtask, not synchronously', async () => {
    let inFlight = 1;
    let evaluations = 0;
    const s = track(
      ctx.waitWhile(() => {
        evaluations++;
        return inFlight > 0;
      }),
    );
    inFlight = 0;
    await turn();
    expect(s.done).to.equal(false); // nobody kicked
    ctx.kick();
    ctx.kick();
    expect(evaluations).to.equal(1);
    await turn();
    expect(evaluations).to.equal(2); // two kicks coalesce
    expect(s.done).to.equal(true);
  });

  it('a kick() on another context wakes the waiter (aio_wait_kick is global)', async () => {
    const iothread = new AioContext({ name: 'io', clock: ctx.clock });
    let busy = true;
    const s = track(ctx.waitWhile(() => busy));
    busy = false;
    iothread.kick();
    await turn();
    expect(s.done).to.equal(true);
  });

  it('is re-evaluated after each BH batch of its context', async () => {
    let inFlight = 2;
    const s = track(ctx.waitWhile(() => inFlight > 0));
    const complete = ctx.bh(() => inFlight--);
    complete.schedule();
    ctx.poll();
    await Promise.resolve();
    expect(s.done).to.equal(false);
    complete.schedule();
    await turn();
    expect(s.done).to.equal(true);
  });

  it('is re-evaluated after a timer of its context fires', async () => {
    let waiting = true;
    const s = track(ctx.waitWhile(() => waiting));
    ctx.newTimer(() => (waiting = false)).arm(100);
    await (ctx.clock as VirtualClock).advance(100);
    expect(s.done).to.equal(true);
  });

  it('supports many waiters with different conditions', async () => {
    let counter = 3;
    const states = [3, 2, 1, 0].map((level) => track(ctx.waitWhile(() => counter > level)));
    expect(states.map((s) => s.done)).to.deep.equal([false, false, false, false]);
    await Promise.resolve();
    await Promise.resolve();
    expect(states.map((s) => s.done)).to.deep.equal([true, false, false, false]);
    counter = 1;
    ctx.kick();
    await turn();
    expect(states.map((s) => s.done)).to.deep.equal([true, true, true, false]);
    counter = 0;
    ctx.kick();
    await turn();
    expect(states.map((s) => s.done)).to.deep.equal([true, true, true, true]);
  });

  it('a throwing condition rejects that waiter only', async () => {
    let phase = 0;
    const bad = track(
      ctx.waitWhile(() => {
        if (phase === 1) throw new Error('bad condition');
        return true;
      }),
    );
    const good = track(ctx.waitWhile(() => phase < 2));
    phase = 1;
    ctx.kick();
    await turn();
    expect(bad.done).to.equal(true);
    expect((bad.error as Error).message).to.equal('bad condition');
    expect(good.done).to.equal(false);
    phase = 2;
    ctx.kick();
    await turn();
    expect(good.done).to.equal(true);
  });
});
