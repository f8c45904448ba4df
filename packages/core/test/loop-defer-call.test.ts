import { expect } from 'chai';
import { AioContext, ConfigError, VirtualClock } from '../src/index.js';

describe('loop: deferCall (util/defer-call.c)', () => {
  let ctx: AioContext;
  beforeEach(() => {
    ctx = new AioContext({ name: 'dc', clock: new VirtualClock() });
  });

  it('runs immediately when not inside a begin/end section', () => {
    const log: number[] = [];
    ctx.deferCall((n: number) => log.push(n), 1);
    expect(log).to.deep.equal([1]);
    expect(ctx.deferCallDepth).to.equal(0);
  });

  it('queues inside a section, de-duplicated by (fn, arg), run in insertion order at the end', () => {
    const log: string[] = [];
    const f = (s: string): void => void log.push(`f:${s}`);
    const g = (s: string): void => void log.push(`g:${s}`);
    ctx.deferCallBegin();
    ctx.deferCall(f, 'x');
    ctx.deferCall(g, 'x');
    ctx.deferCall(f, 'y');
    ctx.deferCall(f, 'x');
    ctx.deferCall(g, 'x');
    expect(log).to.deep.equal([]);
    ctx.deferCallEnd();
    expect(log).to.deep.equal(['f:x', 'g:x', 'f:y']);
  });

  it('nested begin/end: only the outermost end runs the queue', () => {
    const log: number[] = [];
    const f = (n: number): void => void log.push(n);
    ctx.deferCallBegin();
    ctx.deferCallBegin();
    expect(ctx.deferCallDepth).to.equal(2);
    ctx.deferCall(f, 1);
    ctx.deferCallEnd();
    expect(log).to.deep.equal([]);
    expect(ctx.deferCallDepth).to.equal(1);
    ctx.deferCall(f, 2);
    ctx.deferCall(f, 1);
    ctx.deferCallEnd();
    expect(log).to.deep.equal([1, 2]);
    expect(ctx.deferCallDepth).to.equal(0);
  });

  it('the queue is cleared after a flush: a new section starts empty', () => {
    let runs = 0;
    const f = (): void => void runs++;
    ctx.deferCallBegin();
    ctx.deferCall(f, undefined);
    ctx.deferCallEnd();
    ctx.deferCallBegin();
    ctx.deferCall(f, undefined);
    ctx.deferCallEnd();
    expect(runs).to.equal(2);
  });

  it('deferCallEnd() without a matching begin throws a clear error', () => {
    expect(() => ctx.deferCallEnd()).to.throw(
      ConfigError,
      /deferCallEnd\(\) without a matching deferCallBegin\(\)/,
    );
    ctx.deferCallBegin();
    ctx.deferCallEnd();
    expect(() => ctx.deferCallEnd()).to.throw(ConfigError, /'dc'/);
    expect(ctx.deferCallDepth).to.equal(0);
  });

  it('a deferred fn calling deferCall while the queue is flushed (depth 0) runs it immediately', () => {
    const log: string[] = [];
    const inner = (s: string): void => void log.push(`inner:${s}`);
    const outer = (s: string): void => {
      log.push(`outer:${s}`);
      ctx.deferCall(inner, s);
      log.push(`after:${s}`);
    };
    ctx.deferCallBegin();
    ctx.deferCall(outer, 'a');
    ctx.deferCall(outer, 'b');
    ctx.deferCallEnd();
    expect(log).to.deep.equal(['outer:a', 'inner:a', 'after:a', 'outer:b', 'inner:b', 'after:b']);
  });

  it('a deferred fn opening its own section does not re-run the queue being flushed', () => {
    const log: string[] = [];
    const leaf = (s: string): void => void log.push(s);
    const nested = (): void => {
      ctx.deferCallBegin();
      ctx.deferCall(leaf, 'nested');
      ctx.deferCallEnd();
    };
    ctx.deferCallBegin();
    ctx.deferCall(leaf, 'first');
    ctx.deferCall(nested, undefined);
    ctx.deferCall(leaf, 'last');
    ctx.deferCallEnd();
    expect(log).to.deep.equal(['first', 'nested', 'last']);
  });

  it('a throwing deferred fn does not prevent the others from running', () => {
    const log: number[] = [];
    ctx.deferCallBegin();
    ctx.deferCall(() => {
      throw new Error('first failure');
    }, 0);
    ctx.deferCall((n: number) => log.push(n), 1);
    expect(() => ctx.deferCallEnd()).to.throw('first failure');
    expect(log).to.deep.equal([1]);
    expect(ctx.deferCallDepth).to.equal(0);
  });

  it('sections are per context', () => {
    const other = new AioContext({ name: 'other', clock: ctx.clock });
    const log: string[] = [];
    ctx.deferCallBegin();
    other.deferCall((s: string) => log.push(s), 'other');
    expect(log).to.deep.equal(['other']);
    ctx.deferCallEnd();
  });
});
