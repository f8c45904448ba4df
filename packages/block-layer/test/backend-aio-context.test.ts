import { expect } from 'chai';
import { BlockError, ConfigError, Errno, IOThread } from '@vmkit/core';
import { BlockBackend, blockBackends } from '../src/index.js';
import { bbNode, newEnv } from './helpers-backend/bb-driver.js';

describe('BlockBackend AioContext rules (reference §5, test-block-iothread)', () => {
  it('test_attach_preserve_blk_ctx: insert moves the node to the BlockBackend context; remove keeps it on the BlockBackend', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const bs = await bbNode(env.graph);
    const blk = new BlockBackend(env.graph, { ctx: io });
    blk.insertBs(bs);
    expect(bs.aioContext).to.equal(io);
    expect(blk.aioContext).to.equal(io);
    await blk.removeBs();
    expect(blk.aioContext).to.equal(io);
    expect(bs.aioContext).to.equal(env.ctx);
    blk.insertBs(bs);
    expect(bs.aioContext).to.equal(io);
  });

  it('blk_set_aio_context moves the whole connected graph, and back', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const file = await bbNode(env.graph, 'file0');
    const fmt = await env.graph.openNode({ driver: 'raw', 'node-name': 'fmt', file: 'file0' });
    const blk = BlockBackend.withNode(fmt);
    blk.setAioContext(io);
    expect([blk.aioContext, fmt.aioContext, file.aioContext]).to.deep.equal([io, io, io]);
    blk.setAioContext(env.ctx);
    expect([blk.aioContext, fmt.aioContext, file.aioContext]).to.deep.equal([env.ctx, env.ctx, env.ctx]);
  });

  it('a BlockBackend without node just records the context', () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const blk = new BlockBackend(env.graph);
    blk.setAioContext(io);
    expect(blk.aioContext).to.equal(io);
  });

  it('a BlockBackend with a device refuses to follow ("Cannot change iothread of active block backend") until allowed', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const bs = await bbNode(env.graph);
    const devBlk = BlockBackend.withNode(bs);
    devBlk.attachDev({}, 'vda');
    const other = BlockBackend.withNode(bs);
    expect(() => other.setAioContext(io)).to.throw(
      ConfigError,
      'Cannot change iothread of active block backend',
    );
    expect([bs.aioContext, devBlk.aioContext, other.aioContext]).to.deep.equal([env.ctx, env.ctx, env.ctx]);
    devBlk.setAllowAioContextChange(true);
    other.setAioContext(io);
    expect([bs.aioContext, devBlk.aioContext, other.aioContext]).to.deep.equal([io, io, io]);
  });

  it('an anonymous BlockBackend without device refuses too; one with a monitor name and no device may move', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const bs = await bbNode(env.graph);
    const anon = BlockBackend.withNode(bs);
    const mover = BlockBackend.withNode(bs);
    expect(() => mover.setAioContext(io)).to.throw('Cannot change iothread of active block backend');
    blockBackends(env.graph).monitorAdd(anon, 'drive0');
    mover.setAioContext(io);
    expect(anon.aioContext).to.equal(io);
  });

  it('insert: when the node cannot move, a BlockBackend that may change follows the node; otherwise -EPERM', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const bs = await bbNode(env.graph);
    const pinned = BlockBackend.withNode(bs);
    pinned.attachDev({}, 'vda');
    const blk = new BlockBackend(env.graph, { ctx: io });
    let error: unknown;
    try {
      blk.insertBs(bs);
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(BlockError);
    expect((error as BlockError).errno).to.equal(Errno.EPERM);
    expect((error as BlockError).message).to.equal('Cannot change iothread of active block backend');
    expect(blk.root).to.equal(null);
    expect(bs.parents.length).to.equal(1);
    blk.setAllowAioContextChange(true);
    blk.insertBs(bs);
    expect(blk.aioContext).to.equal(env.ctx);
    expect(bs.aioContext).to.equal(env.ctx);
  });

  it('AioContext notifiers hear detach then attach; throttle timers move along', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const bs = await bbNode(env.graph);
    const blk = BlockBackend.withNode(bs);
    blk.ioLimitsEnable('g');
    const log: string[] = [];
    const dispose = blk.addAioContextNotifier(
      (ctx) => log.push(`attach ${ctx.name}`),
      () => log.push('detach'),
    );
    blk.setAioContext(io);
    expect(log).to.deep.equal(['detach', 'attach io0']);
    expect(blk.throttle.aioContext).to.equal(io);
    dispose();
    blk.setAioContext(env.ctx);
    expect(log.length).to.equal(2);
    expect(blk.throttle.aioContext).to.equal(env.ctx);
    await blk.ioLimitsDisable();
  });

  it('the move reaches every node and user connected through shared children, and may be refused by any of them', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const f = await bbNode(env.graph, 'f');
    const a = await env.graph.openNode({ driver: 'raw', 'node-name': 'a', file: 'f' });
    const b = await env.graph.openNode({ driver: 'raw', 'node-name': 'b', file: 'f' });
    const blkA = BlockBackend.withNode(a);
    const blkB = BlockBackend.withNode(b);
    expect(() => blkA.setAioContext(io)).to.throw('Cannot change iothread of active block backend');
    expect([a, b, f].map((n) => n.aioContext)).to.deep.equal([env.ctx, env.ctx, env.ctx]);
    blockBackends(env.graph).monitorAdd(blkB, 'drive-b');
    blkA.setAioContext(io);
    expect([a, b, f].map((n) => n.aioContext)).to.deep.equal([io, io, io]);
    expect([blkA.aioContext, blkB.aioContext]).to.deep.equal([io, io]);
  });
});
