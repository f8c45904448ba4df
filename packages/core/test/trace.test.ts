import { expect } from 'chai';
import diagnostics_channel from 'node:diagnostics_channel';
import { trace, traceChannel } from '../src/index.js';

describe('trace', () => {
  it('names channels vmkit:<area>:<event> exactly', () => {
    expect(traceChannel('block', 'io-error').name).to.equal('vmkit:block:io-error');
    expect(traceChannel('virtio-blk', 'req-complete').name).to.equal('vmkit:virtio-blk:req-complete');
  });

  it('caches channels: the same object for the same area and event', () => {
    const a = traceChannel('test-cache', 'ev');
    expect(traceChannel('test-cache', 'ev')).to.equal(a);
    expect(traceChannel('test-cache', 'other')).to.not.equal(a);
    expect(traceChannel('test-cache2', 'ev')).to.not.equal(a);
  });

  it('is the channel diagnostics_channel hands out for that name', () => {
    expect(traceChannel('test-same', 'x')).to.equal(diagnostics_channel.channel('vmkit:test-same:x'));
  });

  it('publishes to subscribers of the named channel', () => {
    const got: unknown[] = [];
    const onMessage = (m: unknown, name: string | symbol): void => {
      got.push([name, m]);
    };
    diagnostics_channel.subscribe('vmkit:test-pub:hit', onMessage);
    try {
      const msg = { sector: 8 };
      trace('test-pub', 'hit', msg);
      trace('test-pub', 'miss', { sector: 9 });
      expect(got).to.deep.equal([['vmkit:test-pub:hit', msg]]);
      expect((got[0] as unknown[])[1]).to.equal(msg);
    } finally {
      diagnostics_channel.unsubscribe('vmkit:test-pub:hit', onMessage);
    }
    trace('test-pub', 'hit', { sector: 10 });
    expect(got).to.have.length(1);
  });

  it('does not publish when nobody subscribes', () => {
    const channel = traceChannel('test-idle', 'ev');
    expect(channel.hasSubscribers).to.equal(false);
    let published = 0;
    const original = channel.publish.bind(channel);
    channel.publish = (message: unknown): void => {
      published++;
      original(message);
    };
    try {
      trace('test-idle', 'ev', { a: 1 });
      expect(published).to.equal(0);
      const noop = (): void => {};
      channel.subscribe(noop);
      trace('test-idle', 'ev', { a: 2 });
      expect(published).to.equal(1);
      channel.unsubscribe(noop);
      trace('test-idle', 'ev', { a: 3 });
      expect(published).to.equal(1);
    } finally {
      channel.publish = original;
    }
  });

  it('refuses empty names and names containing a colon', () => {
    expect(() => traceChannel('', 'ev')).to.throw(TypeError, /area '' must be non-empty/);
    expect(() => traceChannel('a:b', 'ev')).to.throw(TypeError, /must not contain ':'/);
    expect(() => traceChannel('area-ok', '')).to.throw(TypeError, /event ''/);
    expect(() => trace('area-ok', 'x:y', {})).to.throw(TypeError, /event 'x:y'/);
  });
});
