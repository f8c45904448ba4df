import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AioContext, ConfigError, Errno, IOVector, VirtualClock } from '@vmkit/core';
import {
  BlkdebugRules,
  BlockGraph,
  BlockStatus,
  Perm,
  bdrvBlockStatus,
  bdrvFlush,
  bdrvPreadv,
  bdrvPwritev,
  blkdebugDriver,
  findBlkdebug,
  memoryDriver,
  parseBlkdebugConfig,
  rawDriver,
  type BlkdebugState,
  type BlockDriverState,
} from '../src/index.js';
import { attachTestParent } from './helpers/fixtures.js';

function newGraph(): { graph: BlockGraph; ctx: AioContext } {
  const ctx = new AioContext({ clock: new VirtualClock() });
  return {
    graph: new BlockGraph({ mainContext: ctx, drivers: [memoryDriver, rawDriver, blkdebugDriver] }),
    ctx,
  };
}

/** raw → blkdebug (dbg) → memory (mem, 1 MiB), with a parent holding every permission on raw. */
async function stack(graph: BlockGraph, dbg: Record<string, unknown> = {}): Promise<BlockDriverState> {
  const top = await graph.openNode({
    driver: 'raw',
    'node-name': 'top',
    file: {
      driver: 'blkdebug',
      'node-name': 'dbg',
      image: { driver: 'memory', 'node-name': 'mem', size: 1 << 20 },
      ...dbg,
    },
  });
  attachTestParent(graph, top, 'blk');
  top.unref();
  return top;
}

const buf = (n: number, fill = 0): IOVector => IOVector.fromBuffer(new Uint8Array(n).fill(fill));

async function configError(p: Promise<unknown>): Promise<string> {
  const e: unknown = await p.then(
    () => null,
    (x: unknown) => x,
  );
  expect(e, 'expected a ConfigError').to.be.instanceOf(ConfigError);
  return (e as Error).message;
}

describe('blkdebug driver', () => {
  describe('options and config file', () => {
    it('parses [inject-error] and [set-state] sections with comments and quoted values', () => {
      const cfg = parseBlkdebugConfig(
        [
          '# a comment',
          '[inject-error]',
          'event = "read_aio"',
          'errno = "28"',
          '',
          '[set-state]',
          'event = "write_aio"',
          'state = "1"',
          'new_state = "2"',
        ].join('\n'),
      );
      expect(cfg.injectError).to.deep.equal([{ event: 'read_aio', errno: '28' }]);
      expect(cfg.setState).to.deep.equal([{ event: 'write_aio', state: '1', new_state: '2' }]);
    });

    it('refuses unknown sections, keys outside a section and garbage', () => {
      expect(() => parseBlkdebugConfig('[foo]\n', 'c.conf')).to.throw(
        ConfigError,
        "Could not parse blkdebug config file: c.conf:1: There is no option group 'foo'",
      );
      expect(() => parseBlkdebugConfig('event = "x"\n', 'c.conf')).to.throw(
        ConfigError,
        'c.conf:1: no group defined',
      );
      expect(() => parseBlkdebugConfig('[set-state]\n!!!\n', 'c.conf')).to.throw(
        ConfigError,
        'c.conf:2: Invalid line',
      );
    });

    it('loads rules from a config file (missing file: QEMU message)', async () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-blkdebug-'));
      try {
        const conf = path.join(dir, 'blkdebug.conf');
        fs.writeFileSync(conf, '[inject-error]\nevent = "read_aio"\nerrno = "28"\nimmediately = "on"\n');
        const { graph } = newGraph();
        const top = await stack(graph, { config: conf });
        expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(0);
        expect(await bdrvPreadv(top, 0, 512, buf(512))).to.equal(-Errno.ENOSPC);
        // The rule stays active until another event activates other rules: writes now fail too.
        expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(-Errno.ENOSPC);
        const msg = await configError(stack(newGraph().graph, { config: path.join(dir, 'missing.conf') }));
        expect(msg).to.equal('Could not read blkdebug config file: No such file or directory');
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });

    it('validates rule options', async () => {
      const bad = async (rule: Record<string, unknown>): Promise<string> =>
        configError(stack(newGraph().graph, { 'inject-error': [rule] }));
      expect(await bad({ errno: 5 })).to.equal('Missing event name for rule');
      expect(await bad({ event: 'no_such_event' })).to.equal(
        "Parameter 'event' does not accept value 'no_such_event'",
      );
      expect(await bad({ event: 'read_aio', iotype: 'ioctl' })).to.equal(
        "Parameter 'iotype' does not accept value 'ioctl'",
      );
      expect(await bad({ event: 'read_aio', errno: 'EWHAT' })).to.equal(
        "Parameter 'errno' does not accept value 'EWHAT'",
      );
      expect(await bad({ event: 'read_aio', color: 'red' })).to.equal("Invalid parameter 'color'");
    });

    it("limit overrides are validated with QEMU's texts", async () => {
      const bad = (o: Record<string, unknown>): Promise<string> => configError(stack(newGraph().graph, o));
      expect(await bad({ align: 3 })).to.equal('Cannot meet constraints with align 3');
      expect(await bad({ align: 2 ** 31 })).to.equal(`Cannot meet constraints with align ${2 ** 31}`);
      expect(await bad({ align: 4096, 'max-transfer': 6144 })).to.equal(
        'Cannot meet constraints with max-transfer 6144',
      );
      expect(await bad({ align: 4096, 'opt-write-zero': 2048 })).to.equal(
        'Cannot meet constraints with opt-write-zero 2048',
      );
      expect(await bad({ 'opt-write-zero': 8192, 'max-write-zero': 12288 })).to.equal(
        'Cannot meet constraints with max-write-zero 12288',
      );
      expect(await bad({ align: 512, 'opt-discard': 1000 })).to.equal(
        'Cannot meet constraints with opt-discard 1000',
      );
      expect(await bad({ 'opt-discard': 4096, 'max-discard': 6144 })).to.equal(
        'Cannot meet constraints with max-discard 6144',
      );
    });

    it('applies the limit overrides (non-power-of-2 sizes allowed where QEMU allows them)', async () => {
      const { graph } = newGraph();
      await stack(graph, {
        align: 4096,
        'max-transfer': '64k',
        'opt-write-zero': '15M',
        'max-write-zero': '15M',
        'opt-discard': '15M',
        'max-discard': '15M',
      });
      const dbg = graph.requireNode('dbg');
      expect(dbg.limits).to.include({
        requestAlignment: 4096,
        maxTransfer: 65536,
        pwriteZeroesAlignment: 15 << 20,
        maxPwriteZeroes: 15 << 20,
        pdiscardAlignment: 15 << 20,
        maxPdiscard: 15 << 20,
      });
    });

    it('take-child-perms / unshare-child-perms change the image edge', async () => {
      const { graph } = newGraph();
      await stack(graph, { 'take-child-perms': ['resize'], 'unshare-child-perms': ['write'] });
      const edge = graph.requireNode('dbg').child('image')!;
      expect(edge.perm & Perm.RESIZE).to.equal(Perm.RESIZE);
      expect(edge.sharedPerm & Perm.WRITE).to.equal(0);
    });
  });

  describe('error injection', () => {
    it('fails reads raised by read_aio with the rule errno; writes pass', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, { 'inject-error': [{ event: 'read_aio', errno: 'EIO' }] });
      expect(await bdrvPwritev(top, 0, 512, buf(512, 7))).to.equal(0);
      expect(await bdrvPreadv(top, 0, 512, buf(512))).to.equal(-Errno.EIO);
      expect(await bdrvPreadv(top, 4096, 512, buf(512))).to.equal(-Errno.EIO);
    });

    it('sector restricts the rule to requests covering that sector', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, { 'inject-error': [{ event: 'read_aio', errno: 28, sector: 8 }] });
      expect(await bdrvPreadv(top, 0, 4096, buf(4096))).to.equal(0);
      expect(await bdrvPreadv(top, 4096, 512, buf(512))).to.equal(-Errno.ENOSPC);
      expect(await bdrvPreadv(top, 3584, 1024, buf(1024))).to.equal(-Errno.ENOSPC);
      expect(await bdrvPreadv(top, 4608, 512, buf(512))).to.equal(0);
    });

    it('once removes the rule after the first injection', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, { 'inject-error': [{ event: 'write_aio', once: true }] });
      expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(-Errno.EIO);
      expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(0);
      expect(findBlkdebug(top)!.rules.rulesFor('write_aio')).to.have.length(0);
    });

    it('iotype restricts the operation; event none rules are active from open', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, {
        'inject-error': [{ event: 'none', iotype: 'write', errno: 'ENOSPC' }],
      });
      expect(await bdrvPreadv(top, 0, 512, buf(512))).to.equal(0);
      expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(-Errno.ENOSPC);
    });

    it('block-status is only failed when asked for by iotype', async () => {
      const { graph } = newGraph();
      await stack(graph, { 'inject-error': [{ event: 'none' }] });
      const dbg = graph.requireNode('dbg');
      expect((await bdrvBlockStatus(dbg, true, 0, 4096)).status).to.be.at.least(0);
      const g2 = newGraph().graph;
      await stack(g2, { 'inject-error': [{ event: 'none', iotype: 'block-status', errno: 'EIO' }] });
      const r = await bdrvBlockStatus(g2.requireNode('dbg'), true, 0, 4096);
      expect(r.status).to.equal(-Errno.EIO);
    });

    it('without immediately, the error comes back after a trip through the event loop', async () => {
      const { graph, ctx } = newGraph();
      await stack(graph, { 'inject-error': [{ event: 'none', iotype: 'read' }] });
      const dbg = graph.requireNode('dbg') as BlockDriverState<BlkdebugState>;
      const r = blkdebugDriver.preadv!(dbg, 0, 512, buf(512), 0, 0);
      expect(r).to.be.instanceOf(Promise);
      let settled = false;
      void (r as Promise<number>).then(() => (settled = true));
      await Promise.resolve();
      expect(settled).to.equal(false);
      expect(ctx.poll()).to.equal(1);
      expect(await r).to.equal(-Errno.EIO);
      const g2 = newGraph().graph;
      await stack(g2, { 'inject-error': [{ event: 'none', iotype: 'read', immediately: true }] });
      const d2 = g2.requireNode('dbg') as BlockDriverState<BlkdebugState>;
      expect(blkdebugDriver.preadv!(d2, 0, 512, buf(512), 0, 0)).to.equal(-Errno.EIO);
    });

    it('state machine: set-state rules move the state; rules with a state only act in it', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, {
        'inject-error': [{ event: 'read_aio', state: 2, errno: 'EIO', iotype: 'read' }],
        'set-state': [
          { event: 'write_aio', state: 1, new_state: 2 },
          { event: 'write_aio', state: 2, new_state: 1 },
        ],
      });
      const rules = findBlkdebug(top)!.rules;
      expect(rules.state).to.equal(1);
      expect(await bdrvPreadv(top, 0, 512, buf(512))).to.equal(0);
      expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(0);
      // Both set-state rules were evaluated in the old state: ping-pong works.
      expect(rules.state).to.equal(2);
      expect(await bdrvPreadv(top, 0, 512, buf(512))).to.equal(-Errno.EIO);
      expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(0);
      expect(rules.state).to.equal(1);
    });

    it('the oldest matching active rule wins', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, {
        'inject-error': [
          { event: 'read_aio', errno: 'ENOSPC' },
          { event: 'read_aio', errno: 'EIO' },
        ],
      });
      expect(await bdrvPreadv(top, 0, 512, buf(512))).to.equal(-Errno.ENOSPC);
    });

    it('flush: an error at flush_to_disk reaches the caller', async () => {
      const { graph } = newGraph();
      const top = await stack(graph, {
        'inject-error': [{ event: 'flush_to_disk', iotype: 'flush', errno: 'EIO' }],
      });
      expect(await bdrvPwritev(top, 0, 512, buf(512))).to.equal(0);
      expect(await bdrvFlush(top)).to.equal(-Errno.EIO);
    });

    it('passes block status through as RAW to the image', async () => {
      const { graph } = newGraph();
      await stack(graph);
      const r = await blkdebugDriver.blockStatus!(
        graph.requireNode('dbg') as BlockDriverState<BlkdebugState>,
        true,
        0,
        4096,
      );
      expect(r.status).to.equal(BlockStatus.RAW | BlockStatus.OFFSET_VALID);
      expect(r.file).to.equal(graph.requireNode('mem'));
    });
  });

  describe('breakpoint bookkeeping (BlkdebugRules)', () => {
    it('break suspends the event, wait_break/is_suspended see it, resume releases it', async () => {
      const ctx = new AioContext({ clock: new VirtualClock() });
      const r = new BlkdebugRules(() => ctx);
      expect(r.breakpoint('no_such_event', 'A')).to.equal(-Errno.ENOENT);
      expect(r.breakpoint('pwritev', 'A')).to.equal(0);
      const waiting = r.waitBreak('A');
      expect(r.event('pwritev_done')).to.equal(undefined);
      const p = r.event('pwritev');
      expect(p).to.be.instanceOf(Promise);
      await waiting;
      expect(r.isSuspended('A')).to.equal(true);
      // A breakpoint fires once.
      expect(r.event('pwritev')).to.equal(undefined);
      let resumed = false;
      void (p as Promise<void>).then(() => (resumed = true));
      await Promise.resolve();
      expect(resumed).to.equal(false);
      expect(r.resume('A')).to.equal(0);
      await p;
      expect(resumed).to.equal(true);
      expect(r.isSuspended('A')).to.equal(false);
      expect(r.resume('A')).to.equal(-Errno.ENOENT);
    });

    it('remove_break deletes the rules and releases every request of the tag', async () => {
      const ctx = new AioContext({ clock: new VirtualClock() });
      const r = new BlkdebugRules(() => ctx);
      r.breakpoint('pwritev', 'B');
      r.breakpoint('pwritev', 'B');
      r.breakpoint('pwritev_done', 'B');
      const p1 = r.event('pwritev') as Promise<void>;
      expect(r.suspendedTags).to.deep.equal(['B', 'B']);
      expect(r.removeBreak('B')).to.equal(0);
      await p1;
      expect(r.event('pwritev_done')).to.equal(undefined);
      expect(r.removeBreak('B')).to.equal(-Errno.ENOENT);
    });
  });
});
