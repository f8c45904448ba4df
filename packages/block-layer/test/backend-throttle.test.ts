import { expect } from 'chai';
import {
  BlockAcctType,
  BlockBackend,
  BucketType,
  throttleConfigInit,
  type ThrottleConfig,
} from '../src/index.js';
import { bbBackend, newEnv, settle, vec, type BbEnv } from './helpers-backend/bb-driver.js';

function cfg(set: Partial<Record<keyof typeof BucketType, number>>): ThrottleConfig {
  const c = throttleConfigInit();
  for (const [k, v] of Object.entries(set)) c.buckets[BucketType[k as keyof typeof BucketType]].avg = v;
  return c;
}

async function backends(
  env: BbEnv,
  n: number,
  group: string,
  limits: ThrottleConfig,
): Promise<BlockBackend[]> {
  const out: BlockBackend[] = [];
  for (let i = 0; i < n; i++) {
    const { blk } = await bbBackend(env, {}, 1024 * 1024, `node${i}`);
    blk.ioLimitsEnable(group);
    out.push(blk);
  }
  out[0].setIoLimits(limits);
  return out;
}

/** Submits `count` 512-byte reads on each BlockBackend in turn; returns completions per BlockBackend. */
function submitReads(blks: BlockBackend[], count: number): number[] {
  const done = blks.map(() => 0);
  for (let k = 0; k < count; k++) {
    blks.forEach((blk, i) => blk.aioPreadv(0, vec(512), 0, (idx: number) => done[idx]++, i));
  }
  return done;
}

describe('BlockBackend throttling (reference §2.5, iotest 093 at BlockBackend level)', () => {
  for (const n of [1, 2, 3]) {
    it(`093: ${n} BlockBackend(s) in one group share iops_rd=100 over 5 s (11 at once, then one per 10 ms)`, async () => {
      const env = newEnv();
      const blks = await backends(env, n, 'test', cfg({ opsRead: 100 }));
      const done = submitReads(blks, 600);
      await settle();
      // The bucket holds avg/10 = 10 ops; the 11th still passes (extra = 0), the 12th waits 10 ms.
      expect(done.reduce((a, b) => a + b)).to.equal(11);
      await env.clock.advance(5_000_000_000);
      await settle();
      const total = done.reduce((a, b) => a + b);
      expect(total).to.equal(11 + 500);
      // Round robin: every member's share is the same to one request.
      expect(Math.max(...done) - Math.min(...done)).to.be.at.most(1);
      for (const blk of blks) await blk.drain();
    });
  }

  it('093 member removal: clearing one member flushes its queue while the other stays throttled', async () => {
    const env = newEnv();
    const [d0, d1] = await backends(env, 2, 'test', cfg({ bpsRead: 4096 }));
    const reads = [d0.read(0, 4096), d0.read(0, 2048), d0.read(0, 2048), d1.read(0, 4096)];
    await settle();
    const rdBytes = (b: BlockBackend): number => b.stats.nrBytes[BlockAcctType.READ];
    expect([rdBytes(d0), rdBytes(d1)]).to.deep.equal([4096, 0]);
    await d0.ioLimitsDisable();
    await settle();
    expect([rdBytes(d0), rdBytes(d1)]).to.deep.equal([8192, 0]);
    await env.clock.advance(5_000_000_000);
    await settle();
    expect([rdBytes(d0), rdBytes(d1)]).to.deep.equal([8192, 4096]);
    await Promise.all(reads);
  });

  it('drain releases throttled requests at once (io_limits_disabled), then throttling resumes', async () => {
    const env = newEnv();
    const [blk] = await backends(env, 1, 'g', cfg({ opsRead: 1 }));
    const done = submitReads([blk], 5);
    await settle();
    expect(done[0]).to.equal(1);
    expect(blk.inFlight).to.equal(4);
    await blk.drain();
    expect(done[0]).to.equal(5);
    expect(blk.throttle.ioLimitsDisabled).to.equal(0);
    const more = submitReads([blk], 1);
    await settle();
    expect(more[0]).to.equal(0);
    await blk.drain();
  });

  it('discard and flush are not throttled; write-zeroes is, by its byte count', async () => {
    const env = newEnv();
    const [blk] = await backends(env, 1, 'g', cfg({ opsTotal: 1, bpsWrite: 1024 }));
    expect(await blk.coPreadv(0, 512, vec(512))).to.equal(0); // fills the 1 op/s bucket
    const results: string[] = [];
    void blk.coPreadv(0, 512, vec(512)).then(() => results.push('read'));
    void blk.coPdiscard(0, 512).then(() => results.push('discard'));
    void blk.coFlush().then(() => results.push('flush'));
    await settle();
    expect(results).to.deep.equal(['discard', 'flush']);
    await blk.drain();
    expect(results).to.deep.equal(['discard', 'flush', 'read']);

    const env2 = newEnv();
    const [w] = await backends(env2, 1, 'g', cfg({ bpsWrite: 1024 }));
    const zeroes: number[] = [];
    void w.coPwriteZeroes(0, 4096).then(() => zeroes.push(env2.clock.now()));
    void w.coPwriteZeroes(0, 4096).then(() => zeroes.push(env2.clock.now()));
    await settle();
    expect(zeroes).to.deep.equal([0]);
    // Level 4096 against a bucket of 102.4: (4096 - 102.4) / 1024 s.
    const wait = Math.trunc(((4096 - 102.4) * 1e9) / 1024);
    await env2.clock.advance(wait - 1);
    await settle();
    expect(zeroes.length).to.equal(1);
    await env2.clock.advance(1);
    await settle();
    expect(zeroes).to.deep.equal([0, wait]);
  });

  it('moving between groups (blk_io_limits_update_group) and leaving the last member removes the group', async () => {
    const env = newEnv();
    const [a, b] = await backends(env, 2, 'g1', cfg({ opsRead: 100 }));
    const groups = a.registry.throttleGroups;
    expect(groups.names).to.deep.equal(['g1']);
    await b.ioLimitsUpdateGroup('g2');
    expect(b.ioLimitsGroup).to.equal('g2');
    expect(groups.byName('g1')!.memberCount).to.equal(1);
    // The new group starts without limits until configured.
    expect(groups.byName('g2')!.ts.enabled).to.equal(false);
    await a.ioLimitsDisable();
    expect(groups.names).to.deep.equal(['g2']);
    await b.ioLimitsDisable();
    expect(groups.names).to.deep.equal([]);
  });

  it('without limits the request path does not touch the throttle', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    expect(blk.throttle.group).to.equal(null);
    expect(await blk.coPreadv(0, 512, vec(512))).to.equal(0);
    expect(blk.throttle.pendingReqs).to.deep.equal([0, 0]);
  });

  it('unref of a throttled BlockBackend disables the limits (blk_delete)', async () => {
    const env = newEnv();
    const [blk] = await backends(env, 1, 'g', cfg({ opsRead: 1 }));
    const groups = blk.registry.throttleGroups;
    submitReads([blk], 3);
    await blk.unref();
    expect(groups.names).to.deep.equal([]);
  });
});
