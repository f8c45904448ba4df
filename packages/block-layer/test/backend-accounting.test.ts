import { expect } from 'chai';
import { Errno } from '@vmkit/core';
import { BlockAcctCookie, BlockAcctType, QTEST_LATENCY_NS } from '../src/index.js';
import { bbBackend, newEnv } from './helpers-backend/bb-driver.js';

const MiB = 1024 * 1024;
const FAIL_OFFSET = 8192 * 512; // iotest 136 injects errors on sector 8192

async function expectThrow(p: Promise<unknown>): Promise<void> {
  let error: unknown;
  try {
    await p;
  } catch (e) {
    error = e;
  }
  expect(error, 'the request should fail').to.be.instanceOf(Error);
}

describe('BlockBackend accounting (reference §3, iotest 136 at BlockBackend level)', () => {
  for (const accountInvalid of [true, false]) {
    for (const accountFailed of [true, false]) {
      it(`136: account_invalid=${accountInvalid} account_failed=${accountFailed}`, async () => {
        const env = newEnv();
        const { blk, s } = await bbBackend(env, { statsFixedLatencyNs: QTEST_LATENCY_NS }, 8 * MiB);
        blk.stats.setup({
          accountInvalid: accountInvalid ? 'on' : 'off',
          accountFailed: accountFailed ? 'on' : 'off',
          statsIntervals: [10],
        });
        let st = blk.queryBlockstats().stats;
        expect(st.idle_time_ns).to.equal(undefined);
        expect(st.timed_stats.length).to.equal(1);

        await env.clock.advance(1000);
        await blk.read(0, 512);
        await blk.read(MiB, 1024);
        await blk.write(0, new Uint8Array(4096));
        await blk.write(2 * MiB, new Uint8Array(512));
        await blk.flush();
        await blk.flush();
        const lastDone = env.clock.now();
        await env.clock.advance(100);
        s.errors.push({ op: 'read', ret: -Errno.EIO, offset: FAIL_OFFSET });
        s.errors.push({ op: 'write', ret: -Errno.EIO, offset: FAIL_OFFSET });
        await expectThrow(blk.read(FAIL_OFFSET, 512));
        await expectThrow(blk.write(FAIL_OFFSET, new Uint8Array(512)));
        const lastFailed = env.clock.now();
        await env.clock.advance(1000);
        const lastInvalid = env.clock.now();
        // qemu-io -i: refused before any I/O.
        blk.acctInvalid(BlockAcctType.READ);
        blk.acctInvalid(BlockAcctType.WRITE);
        blk.acctInvalid(BlockAcctType.WRITE);
        await env.clock.advance(500);

        st = blk.queryBlockstats().stats;
        expect([st.rd_bytes, st.rd_operations]).to.deep.equal([1536, 2]);
        expect([st.wr_bytes, st.wr_operations]).to.deep.equal([4608, 2]);
        expect(st.flush_operations).to.equal(2);
        expect([st.failed_rd_operations, st.failed_wr_operations, st.failed_flush_operations]).to.deep.equal([
          1, 1, 0,
        ]);
        expect([
          st.invalid_rd_operations,
          st.invalid_wr_operations,
          st.invalid_flush_operations,
        ]).to.deep.equal([1, 2, 0]);
        // The failed write counts for the highest offset.
        expect(st.wr_highest_offset).to.equal(FAIL_OFFSET + 512);
        expect([st.rd_merged, st.wr_merged]).to.deep.equal([0, 0]);
        const failedCounted = accountFailed ? 1 : 0;
        expect(st.rd_total_time_ns).to.equal((2 + failedCounted) * QTEST_LATENCY_NS);
        expect(st.wr_total_time_ns).to.equal((2 + failedCounted) * QTEST_LATENCY_NS);
        expect(st.flush_total_time_ns).to.equal(2 * QTEST_LATENCY_NS);
        const ts = st.timed_stats[0];
        expect(ts.interval_length).to.equal(10);
        expect([ts.min_rd_latency_ns, ts.avg_rd_latency_ns, ts.max_rd_latency_ns]).to.deep.equal([
          QTEST_LATENCY_NS,
          QTEST_LATENCY_NS,
          QTEST_LATENCY_NS,
        ]);
        expect(ts.avg_rd_queue_depth).to.be.greaterThan(0);
        // Invalid requests touch the last access time only with account_invalid; failed ones with account_failed.
        const last = accountInvalid ? lastInvalid : accountFailed ? lastFailed : lastDone;
        expect(st.idle_time_ns).to.equal(env.clock.now() - last);
        expect([st.account_invalid, st.account_failed]).to.deep.equal([accountInvalid, accountFailed]);
      });
    }
  }

  it('the device helpers account on the BlockBackend stats (start/done/failed/merge)', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env, { statsFixedLatencyNs: 5 });
    const cookie = new BlockAcctCookie();
    blk.acctStart(cookie, 4096, BlockAcctType.READ);
    blk.acctDone(cookie);
    blk.acctDone(cookie); // a cookie counts once
    blk.acctStart(cookie, 512, BlockAcctType.WRITE);
    blk.acctFailed(cookie);
    blk.acctMergeDone(BlockAcctType.WRITE, 3);
    const st = blk.queryBlockstats().stats;
    expect([st.rd_bytes, st.rd_operations, st.rd_total_time_ns]).to.deep.equal([4096, 1, 5]);
    expect([st.wr_operations, st.failed_wr_operations, st.wr_merged]).to.deep.equal([0, 1, 3]);
  });

  it('discard and write-zeroes of the convenience API are accounted as unmap and write', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    await blk.discard(0, 4096);
    await blk.writeZeroes(0, 1024);
    const st = blk.queryBlockstats().stats;
    expect([st.unmap_operations, st.unmap_bytes]).to.deep.equal([1, 4096]);
    expect([st.wr_operations, st.wr_bytes]).to.deep.equal([1, 1024]);
  });
});
