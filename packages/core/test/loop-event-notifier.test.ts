import { expect } from 'chai';
import { AioContext, EventNotifier, VirtualClock } from '../src/index.js';

const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));

describe('loop: EventNotifier', () => {
  let ctx: AioContext;
  beforeEach(() => {
    ctx = new AioContext({ name: 'en', clock: new VirtualClock() });
  });

  it('set()/testAndClear() behave like an eventfd write/read', () => {
    const n = new EventNotifier('doorbell');
    expect(n.isSet).to.equal(false);
    expect(n.testAndClear()).to.equal(false);
    n.set();
    n.set();
    expect(n.isSet).to.equal(true);
    expect(n.testAndClear()).to.equal(true);
    expect(n.isSet).to.equal(false);
    expect(n.testAndClear()).to.equal(false);
  });

  it('the handler is dispatched deferred in the attached context; several set() give one call', async () => {
    const n = new EventNotifier();
    const calls: EventNotifier[] = [];
    n.setHandler(ctx, (e) => {
      calls.push(e);
      e.testAndClear();
    });
    expect(n.context).to.equal(ctx);
    n.set();
    n.set();
    n.set();
    expect(calls).to.have.length(0);
    expect(ctx.poll()).to.equal(1);
    expect(calls).to.deep.equal([n]);
    await turn();
    expect(calls).to.have.length(1);
    n.set();
    await turn();
    expect(calls).to.have.length(2);
  });

  it('a notifier cleared before dispatch does not call the handler', async () => {
    const n = new EventNotifier();
    let calls = 0;
    n.setHandler(ctx, () => calls++);
    n.set();
    n.testAndClear();
    await turn();
    expect(calls).to.equal(0);
  });

  it('setHandler(null) detaches but keeps the pending state; re-attaching while set dispatches', async () => {
    const n = new EventNotifier();
    let calls = 0;
    const handler = (e: EventNotifier): void => {
      calls++;
      e.testAndClear();
    };
    n.setHandler(ctx, handler);
    n.set();
    n.setHandler(null); // before dispatch: the scheduled dispatch is dropped
    expect(n.context).to.equal(null);
    await turn();
    expect(calls).to.equal(0);
    expect(n.isSet).to.equal(true);
    n.set(); // arrives while detached: stays pending
    await turn();
    expect(calls).to.equal(0);
    n.setHandler(ctx, handler);
    expect(calls).to.equal(0); // still deferred
    await turn();
    expect(calls).to.equal(1);
    expect(n.isSet).to.equal(false);
  });

  it('moving the handler to another context dispatches there', () => {
    const other = new AioContext({ name: 'other', clock: ctx.clock });
    const n = new EventNotifier();
    const seen: string[] = [];
    n.setHandler(ctx, () => seen.push('ctx'));
    n.setHandler(other, (e) => {
      seen.push('other');
      e.testAndClear();
    });
    n.set();
    expect(ctx.poll()).to.equal(0);
    expect(other.poll()).to.equal(1);
    expect(seen).to.deep.equal(['other']);
  });
});
