import { expect } from 'chai';
import { ConfigError, IOThread } from '@vmkit/core';
import {
  BlockBackend,
  blockBackends,
  type BlockDriver,
  type BlockDriverState,
  type BlockGraph,
} from '../src/index.js';
import { bbNode, newEnv } from './helpers-backend/bb-driver.js';

/** A protocol driver that logs its AioContext hooks. */
const ctxLogger: BlockDriver<{ log: string[] }, { size: number }> = {
  name: 'ctx-logger',
  kind: 'protocol',
  parseOptions: () => ({ size: 4096 }),
  open(bs) {
    bs.opaque = { log: [] };
  },
  getLength: () => 4096,
  preadv: () => 0,
  detachAioContext(bs) {
    bs.opaque.log.push(`detach ${bs.aioContext.name}`);
  },
  attachAioContext(bs) {
    bs.opaque.log.push(`attach ${bs.aioContext.name}`);
  },
};

/** One node with two BlockBackends: `mover` may follow a context change, `pinned` may not. */
async function twoUsers(
  graph: BlockGraph,
  pinnedFirst: boolean,
): Promise<{ bs: BlockDriverState; mover: BlockBackend; pinned: BlockBackend; log: string[] }> {
  graph.registerDriver(ctxLogger);
  const bs = await graph.openNode({ driver: 'ctx-logger', 'node-name': 'n' });
  const makeMover = (): BlockBackend => {
    const blk = BlockBackend.withNode(bs);
    blockBackends(graph).monitorAdd(blk, 'drive-mover');
    return blk;
  };
  const makePinned = (): BlockBackend => {
    const blk = BlockBackend.withNode(bs);
    blk.attachDev({}, 'vda');
    return blk;
  };
  // Parents are visited newest first: the order decides who is asked first.
  let mover: BlockBackend;
  let pinned: BlockBackend;
  if (pinnedFirst) {
    pinned = makePinned();
    mover = makeMover();
  } else {
    mover = makeMover();
    pinned = makePinned();
  }
  const log: string[] = [];
  mover.addAioContextNotifier(
    (ctx) => log.push(`attached ${ctx.name}`),
    () => log.push('detach'),
  );
  return { bs, mover, pinned, log };
}

describe('graph follow-ups: two-phase changeAioContext (bdrv_try_change_aio_context)', () => {
  for (const pinnedFirst of [true, false]) {
    it(`a BlockBackend refusing after another accepted: nothing moved, nobody heard of it (${pinnedFirst ? 'accepting user asked first' : 'refusing user asked first'})`, async () => {
      const env = newEnv();
      const io = new IOThread('io0', env.clock);
      const { bs, mover, pinned, log } = await twoUsers(env.graph, pinnedFirst);
      expect(() => env.graph.changeAioContext(bs, io)).to.throw(
        ConfigError,
        'Cannot change iothread of active block backend',
      );
      expect([bs.aioContext, mover.aioContext, pinned.aioContext]).to.deep.equal([env.ctx, env.ctx, env.ctx]);
      expect(log).to.deep.equal([]);
      expect((bs.opaque as { log: string[] }).log).to.deep.equal([]);
      // Once the pinned user allows it, everything moves: nodes first, then the users.
      pinned.setAllowAioContextChange(true);
      env.graph.changeAioContext(bs, io);
      expect([bs.aioContext, mover.aioContext, pinned.aioContext]).to.deep.equal([io, io, io]);
      expect(log).to.deep.equal(['detach', 'attached io0']);
      expect((bs.opaque as { log: string[] }).log).to.deep.equal(['detach main', 'attach io0']);
    });
  }

  it('blk_set_aio_context: a refusal by another user leaves the caller where it was', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const { bs, mover, pinned, log } = await twoUsers(env.graph, true);
    const caller = BlockBackend.withNode(bs);
    expect(() => caller.setAioContext(io)).to.throw(
      ConfigError,
      'Cannot change iothread of active block backend',
    );
    expect([bs.aioContext, mover.aioContext, pinned.aioContext, caller.aioContext]).to.deep.equal([
      env.ctx,
      env.ctx,
      env.ctx,
      env.ctx,
    ]);
    expect(log).to.deep.equal([]);
  });

  it('the walk covers shared children and their other users, and stops at nodes already in the target', async () => {
    const env = newEnv();
    const io = new IOThread('io0', env.clock);
    const f = await bbNode(env.graph, 'f');
    const a = await env.graph.openNode({ driver: 'raw', 'node-name': 'a', file: 'f' });
    const b = await env.graph.openNode({ driver: 'raw', 'node-name': 'b', file: 'f' });
    const blkB = BlockBackend.withNode(b);
    blkB.setAllowAioContextChange(true);
    env.graph.changeAioContext(a, io);
    expect([a, b, f].map((n) => n.aioContext)).to.deep.equal([io, io, io]);
    expect(blkB.aioContext).to.equal(io);
    // blkB now refuses; a graph already in `io` does not ask it again.
    blkB.setAllowAioContextChange(false);
    env.graph.changeAioContext(a, io);
    expect(() => env.graph.changeAioContext(a, env.ctx)).to.throw(
      'Cannot change iothread of active block backend',
    );
    expect([a, b, f].map((n) => n.aioContext)).to.deep.equal([io, io, io]);
  });
});
