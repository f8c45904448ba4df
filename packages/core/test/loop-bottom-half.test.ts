import { createHook } from 'node:async_hooks';
import { expect } from 'chai';
import { AioContext, ConfigError, VirtualClock } from '../src/index.js';

/** One macrotask turn: BH batches requested before it have run when it resolves. */
const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

describe('loop: bottom halves', () => {
  let ctx: AioContext;
  beforeEach(() => {
    ctx = new AioContext({ name: 'test', clock: new VirtualClock() });
  });

  it('never runs synchronously inside schedule(); runs in a later macrotask', async () => {
    let runs = 0;
    const bh = ctx.bh(() => runs++);
    bh.schedule();
    expect(runs).to.equal(0);
    expect(bh.scheduled).to.equal(true);
    await Promise.resolve();
    expect(runs).to.equal(0);
    await turn();
    expect(runs).to.equal(1);
    expect(bh.scheduled).to.equal(false);
  });

  it('a BH scheduled twice before it runs, runs once', async () => {
    let runs = 0;
    const bh = ctx.bh(() => runs++);
    bh.schedule();
    bh.schedule();
    bh.schedule();
    await turn();
    await turn();
    expect(runs).to.equal(1);
  });

  it('runs BHs in scheduling order, not creation order', async () => {
    const log: string[] = [];
    const a = ctx.bh(() => log.push('a'));
    const b = ctx.bh(() => log.push('b'));
    const c = ctx.bh(() => log.push('c'));
    c.schedule();
    a.schedule();
    b.schedule();
    a.schedule();
    await turn();
    expect(log).to.deep.equal(['c', 'a', 'b']);
  });

  it('a BH scheduled while a batch runs, runs in the next batch', () => {
    const log: string[] = [];
    const b = ctx.bh(() => log.push('b'));
    const a = ctx.bh(() => {
      log.push('a');
      b.schedule();
      a.schedule(); // rescheduling itself: next batch too, once
    });
    a.schedule();
    expect(ctx.poll()).to.equal(1);
    expect(log).to.deep.equal(['a']);
    expect(ctx.poll()).to.equal(2);
    expect(log).to.deep.equal(['a', 'b', 'a']);
    a.cancel();
    expect(ctx.poll()).to.equal(1);
    expect(log).to.deep.equal(['a', 'b', 'a', 'b']);
    expect(ctx.poll()).to.equal(0);
  });

  it('poll() runs scheduled BHs now and the pending macrotask does not run them again', async () => {
    let runs = 0;
    ctx.bh(() => runs++).schedule();
    ctx.bh(() => runs++).schedule();
    expect(ctx.poll()).to.equal(2);
    expect(runs).to.equal(2);
    await turn();
    expect(runs).to.equal(2);
    expect(ctx.poll()).to.equal(0);
  });

  it('cancel() unschedules; the BH can be scheduled again', async () => {
    let runs = 0;
    const bh = ctx.bh(() => runs++);
    bh.schedule();
    bh.cancel();
    expect(bh.scheduled).to.equal(false);
    await turn();
    expect(runs).to.equal(0);
    bh.cancel(); // no-op when not scheduled
    bh.schedule();
    await turn();
    expect(runs).to.equal(1);
  });

  it('delete() cancels and schedule() afterwards throws', async () => {
    let runs = 0;
    const bh = ctx.bh(() => runs++, 'victim');
    bh.schedule();
    bh.delete();
    await turn();
    expect(runs).to.equal(0);
    expect(() => bh.schedule()).to.throw(ConfigError, /'victim' was deleted/);
  });

  it('uses one setImmediate per batch per context, not one per BH', async () => {
    let immediates = 0;
    const hook = createHook({
      init(_id, type) {
        if (type === 'Immediate') immediates++;
      },
    }).enable();
    const other = new AioContext({ name: 'other', clock: ctx.clock });
    let runs = 0;
    try {
      for (let i = 0; i < 100; i++) ctx.bh(() => runs++).schedule();
      for (let i = 0; i < 100; i++) other.bh(() => runs++).schedule();
    } finally {
      hook.disable();
    }
    expect(immediates).to.equal(2);
    await turn();
    expect(runs).to.equal(200);
  });

  it('scheduleOneshot runs once, in order with other BHs, and can be used from its own callback', async () => {
    const log: string[] = [];
    const bh = ctx.bh(() => log.push('bh'));
    ctx.scheduleOneshot(() => {
      log.push('one');
      ctx.scheduleOneshot(() => log.push('three'));
    });
    bh.schedule();
    ctx.scheduleOneshot(() => log.push('two'));
    await turn();
    expect(log).to.deep.equal(['one', 'bh', 'two']);
    await turn();
    expect(log).to.deep.equal(['one', 'bh', 'two', 'three']);
    await turn();
    expect(log).to.have.length(4);
  });

  it('a throwing BH propagates out of poll() and the rest of its batch runs in the next batch', () => {
    const log: string[] = [];
    ctx.bh(() => log.push('a')).schedule();
    ctx
      .bh(() => {
        throw new Error('boom');
      })
      .schedule();
    ctx.bh(() => log.push('c')).schedule();
    expect(() => ctx.poll()).to.throw('boom');
    expect(log).to.deep.equal(['a']);
    expect(ctx.poll()).to.equal(1);
    expect(log).to.deep.equal(['a', 'c']);
  });

  it('contexts have separate BH queues', () => {
    const other = new AioContext({ name: 'other', clock: ctx.clock });
    const log: string[] = [];
    ctx.bh(() => log.push('ctx')).schedule();
    other.bh(() => log.push('other')).schedule();
    expect(other.poll()).to.equal(1);
    expect(log).to.deep.equal(['other']);
    expect(ctx.poll()).to.equal(1);
  });
});
