import { expect } from 'chai';
import {
  BLOCK_LAYER,
  ConfigError,
  Machine,
  TypedEmitter,
  definePlugin,
  type BlockdevOptions,
  type BlockLayerService,
  type StopReason,
} from '../src/index.js';
import { rejection } from './helpers/rejection.js';

class FakeBlockLayer implements BlockLayerService {
  readonly calls: string[] = [];
  async blockdevAdd(options: BlockdevOptions): Promise<unknown> {
    this.calls.push(`add ${options.driver} ${options.nodeName ?? ''}`);
    return { node: options.nodeName };
  }
  async blockdevDel(nodeName: string): Promise<void> {
    this.calls.push(`del ${nodeName}`);
  }
  async blockdevReopen(options: BlockdevOptions | readonly BlockdevOptions[]): Promise<void> {
    this.calls.push(`reopen ${Array.isArray(options) ? options.length : 1}`);
  }
  hasBlockdev(id: string): boolean {
    return id === 'disk0';
  }
  blockBackend(id: string): unknown {
    if (id !== 'disk0') throw new ConfigError(`no backend '${id}'`);
    return { backend: id };
  }
  async vmStopped(): Promise<void> {
    await Promise.resolve();
    this.calls.push('drain+flush');
  }
}

describe('machine: run state', () => {
  it('stop and cont change the state, emit stop/resume and call handlers (reverse order on stop)', async () => {
    const m = await Machine.create();
    const log: string[] = [];
    m.onRunStateChange((running, reason) => log.push(`first ${running} ${reason ?? '-'}`));
    m.onRunStateChange((running, reason) => log.push(`second ${running} ${reason ?? '-'}`));
    m.events.on('stop', (reason) => log.push(`event stop ${reason}`));
    m.events.on('resume', () => log.push('event resume'));
    expect(m.runState).to.equal('running');
    await m.stop('io-error');
    expect(m.runState).to.equal('paused');
    expect(m.stopReason).to.equal('io-error');
    m.cont();
    expect(m.runState).to.equal('running');
    expect(m.stopReason).to.equal(undefined);
    expect(log).to.deep.equal([
      'second false io-error',
      'first false io-error',
      'event stop io-error',
      'event resume',
      'first true -',
      'second true -',
    ]);
  });

  it('stopping a paused machine or continuing a running one does nothing', async () => {
    const m = await Machine.create();
    const reasons: (StopReason | undefined)[] = [];
    m.onRunStateChange((_running, reason) => reasons.push(reason));
    m.cont();
    await m.stop();
    await m.stop('io-error');
    expect(m.stopReason).to.equal('user');
    expect(reasons).to.deep.equal(['user']);
  });

  it('a disposed handler is not called again', async () => {
    const m = await Machine.create();
    let calls = 0;
    const dispose = m.onRunStateChange(() => calls++);
    await m.stop();
    dispose();
    dispose();
    m.cont();
    expect(calls).to.equal(1);
  });

  it('stop waits for the block layer to drain and flush, after the handlers', async () => {
    const blk = new FakeBlockLayer();
    const plugin = definePlugin('fake-block', (ctx) => {
      ctx.bind<BlockLayerService>(BLOCK_LAYER).toConstantValue(blk);
    });
    const m = await Machine.create({ plugins: [plugin] });
    m.onRunStateChange(() => blk.calls.push('handler'));
    await m.stop();
    expect(blk.calls).to.deep.equal(['handler', 'drain+flush']);
  });
});

describe('machine: block layer delegation', () => {
  it('forwards blockdev commands to the service bound under BLOCK_LAYER', async () => {
    const blk = new FakeBlockLayer();
    const plugin = definePlugin('fake-block', (ctx) => {
      ctx.bind<BlockLayerService>(BLOCK_LAYER).toConstantValue(blk);
    });
    const m = await Machine.create({ plugins: [plugin] });
    expect(m.blockLayer).to.equal(blk);
    expect(await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'f0' })).to.deep.equal({
      node: 'disk0',
    });
    await m.blockdevReopen([{ driver: 'raw', nodeName: 'disk0' }]);
    expect(m.blockBackend('disk0')).to.deep.equal({ backend: 'disk0' });
    expect(() => m.blockBackend('x')).to.throw(ConfigError, "no backend 'x'");
    await m.blockdevDel('disk0');
    expect(blk.calls).to.deep.equal(['add raw disk0', 'reopen 1', 'del disk0']);
  });

  it('without a block layer every block command says which plugin to load', async () => {
    const m = await Machine.create();
    expect(m.blockLayer).to.equal(undefined);
    const message = 'no block layer: load blockLayerPlugin';
    for (const pending of [
      m.blockdevAdd({ driver: 'file', filename: 'x' }),
      m.blockdevDel('n'),
      m.blockdevReopen({ driver: 'raw' }),
    ]) {
      const e = await rejection(pending);
      expect(e).to.be.instanceOf(ConfigError);
      expect(e.message).to.equal(message);
    }
    expect(() => m.blockBackend('b')).to.throw(ConfigError, message);
    await m.stop(); // nothing to drain
    expect(m.runState).to.equal('paused');
  });

  it('after destroy the block layer is gone', async () => {
    const blk = new FakeBlockLayer();
    const plugin = definePlugin('fake-block', (ctx) => {
      ctx.bind<BlockLayerService>(BLOCK_LAYER).toConstantValue(blk);
    });
    const m = await Machine.create({ plugins: [plugin] });
    await m.destroy();
    expect(m.blockLayer).to.equal(undefined);
    expect(() => m.blockBackend('disk0')).to.throw(ConfigError, "machine 'machine' is destroyed");
    expect((await rejection(m.stop())).message).to.equal("machine 'machine' is destroyed");
  });
});

describe('machine: TypedEmitter', () => {
  interface Events {
    ping: [n: number];
    done: [];
  }

  it('calls listeners in order with typed arguments; disposers and off unsubscribe', () => {
    const e = new TypedEmitter<Events>();
    const got: string[] = [];
    const offA = e.on('ping', (n) => got.push(`a${n}`));
    const b = (n: number): void => {
      got.push(`b${n}`);
    };
    e.on('ping', b);
    expect(e.emit('ping', 1)).to.equal(true);
    offA();
    offA();
    e.emit('ping', 2);
    e.off('ping', b);
    expect(e.emit('ping', 3)).to.equal(false);
    expect(got).to.deep.equal(['a1', 'b1', 'b2']);
    expect(e.listenerCount('ping')).to.equal(0);
  });

  it('once fires a single time; listeners added during emit wait for the next emit', () => {
    const e = new TypedEmitter<Events>();
    let onces = 0;
    let late = 0;
    e.once('done', () => onces++);
    e.on('done', () => {
      e.on('done', () => late++);
    });
    e.emit('done');
    e.emit('done');
    expect(onces).to.equal(1);
    expect(late).to.equal(1);
  });

  it('a throwing listener propagates to the emitter', () => {
    const e = new TypedEmitter<Events>();
    e.on('ping', () => {
      throw new Error('listener failed');
    });
    expect(() => e.emit('ping', 1)).to.throw('listener failed');
  });
});
