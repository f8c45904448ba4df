import { expect } from 'chai';
import { Errno } from '@vmkit/core';
import {
  BlockBackend,
  blkDrainAll,
  drainAllBegin,
  drainAllEnd,
  drainedBegin,
  drainedEnd,
  type BlockDevOps,
} from '../src/index.js';
import { bbBackend, newEnv, settle, vec } from './helpers-backend/bb-driver.js';

function recordingOps(log: string[], busy: { value: boolean } = { value: false }): BlockDevOps {
  return {
    drainedBegin: () => log.push('begin'),
    drainedEnd: () => log.push('end'),
    drainedPoll: () => busy.value,
  };
}

describe('BlockBackend as a drain parent (reference §1.3)', () => {
  it('B1: drained_begin calls the device once per outermost section, io_limits_disabled on every call', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    const log: string[] = [];
    blk.setDevOps(recordingOps(log));
    blk.rootParent.drainedBegin();
    blk.rootParent.drainedBegin();
    expect(blk.quiesceCounter).to.equal(2);
    expect(blk.throttle.ioLimitsDisabled).to.equal(2);
    expect(log).to.deep.equal(['begin']);
    blk.rootParent.drainedEnd();
    expect(log).to.deep.equal(['begin']);
    expect(blk.throttle.ioLimitsDisabled).to.equal(1);
    blk.rootParent.drainedEnd();
    expect(log).to.deep.equal(['begin', 'end']);
    expect(blk.throttle.ioLimitsDisabled).to.equal(0);
    expect(() => blk.rootParent.drainedEnd()).to.throw(/without drained_begin/);
  });

  it('B1/B2: draining the root node twice (nested) quiesces the device once', async () => {
    const env = newEnv();
    const { blk, bs } = await bbBackend(env);
    const log: string[] = [];
    blk.setDevOps(recordingOps(log));
    await drainedBegin(bs);
    await drainedBegin(bs);
    expect(blk.quiesceCounter).to.equal(1);
    drainedEnd(bs);
    expect(log).to.deep.equal(['begin']);
    drainedEnd(bs);
    expect(log).to.deep.equal(['begin', 'end']);
    expect(blk.inDrain).to.equal(false);
  });

  it('B3: drained_poll is busy while the device says so or requests are in flight', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    const busy = { value: true };
    blk.setDevOps(recordingOps([], busy));
    let drained = false;
    const p = drainedBegin(bs).then(() => (drained = true));
    await settle();
    expect(drained).to.equal(false);
    expect(blk.rootParent.drainedPoll()).to.equal(true);
    busy.value = false;
    blk.aioContext.kick();
    await p;
    expect(drained).to.equal(true);
    drainedEnd(bs);

    s.hold = true;
    blk.aioPreadv(0, vec(512), 0, () => undefined, null);
    expect(blk.inFlight).to.equal(1);
    let drained2 = false;
    const p2 = drainedBegin(bs).then(() => (drained2 = true));
    await settle();
    expect(drained2).to.equal(false);
    s.release();
    await p2;
    expect(blk.inFlight).to.equal(0);
    drainedEnd(bs);
  });

  it('B4: requests arriving while drained are parked, not counted in flight, and all resume at the outermost end', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    await blk.write(0, new Uint8Array(512).fill(7));
    const log: string[] = [];
    blk.setDevOps({ drainedEnd: () => log.push('device end') });
    await drainedBegin(bs);
    await drainedBegin(bs);
    const before = s.calls.length;
    const results: number[] = [];
    const buf = vec(512);
    void blk.coPreadv(0, 512, buf).then((r) => results.push(r));
    void blk.coPwritev(512, 512, vec(512, 1)).then((r) => results.push(r));
    void blk.coFlush().then((r) => results.push(r));
    void blk.coPdiscard(0, 512).then((r) => results.push(r));
    void blk.coPwriteZeroes(1024, 512).then((r) => results.push(r));
    let aio: number | undefined;
    blk.aioPreadv(0, vec(512), 0, (_: null, r: number) => (aio = r), null);
    await settle();
    expect(blk.inFlight).to.equal(0);
    expect(blk.queuedRequests.length).to.equal(6);
    expect(s.calls.length).to.equal(before);
    drainedEnd(bs);
    await settle();
    expect(results).to.deep.equal([]);
    expect(blk.queuedRequests.length).to.equal(6);
    drainedEnd(bs);
    expect(log).to.deep.equal(['device end']);
    await settle();
    expect(results).to.deep.equal([0, 0, 0, 0, 0]);
    expect(aio).to.equal(0);
    expect(buf.toBuffer()[0]).to.equal(7);
    expect(blk.inFlight).to.equal(0);
  });

  it('B4: a request woken by drained_end parks again if a new section begins before it runs', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    await drainedBegin(bs);
    let ret: number | undefined;
    void blk.coPreadv(0, 512, vec(512)).then((r) => (ret = r));
    await settle();
    drainedEnd(bs);
    // Same tick: the woken request holds an in-flight reference, so this drain waits for it...
    const second = drainedBegin(bs);
    expect(blk.inFlight).to.equal(1);
    await second;
    // ...and it did not reach the node while the node was drained: it is parked again.
    expect(s.ops('read')).to.deep.equal([]);
    expect(blk.inFlight).to.equal(0);
    expect(blk.queuedRequests.length).to.equal(1);
    drainedEnd(bs);
    await settle();
    expect(ret).to.equal(0);
    expect(s.ops('read').length).to.equal(1);
  });

  it('B4: setDisableRequestQueuing lets requests through while drained', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    blk.setDisableRequestQueuing(true);
    await drainedBegin(bs);
    expect(await blk.coPreadv(0, 512, vec(512))).to.equal(0);
    expect(s.ops('read').length).to.equal(1);
    drainedEnd(bs);
  });

  it('in-flight: an AIO callback never runs inside the submitting call; in_flight drops after it', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    const seen: Array<[number, number]> = [];
    const cb = (b: BlockBackend, ret: number): void => {
      seen.push([ret, b.inFlight]);
    };
    blk.aioPreadv(0, vec(512), 0, cb, blk);
    blk.aioPwritev(0, vec(512), 0, cb, blk);
    blk.aioFlush(cb, blk);
    blk.aioPdiscard(0, 512, cb, blk);
    blk.aioPwriteZeroes(0, 512, 0, cb, blk);
    blk.aioPreadv(-2, vec(512), 0, cb, blk);
    blk.abortAioRequest(cb, blk, -Errno.ECANCELED);
    expect(seen).to.deep.equal([]);
    expect(blk.inFlight).to.equal(7);
    await settle();
    expect(seen).to.deep.equal([
      [0, 7],
      [0, 6],
      [0, 5],
      [0, 4],
      [0, 3],
      [-Errno.EIO, 2],
      [-Errno.ECANCELED, 1],
    ]);
    expect(blk.inFlight).to.equal(0);
    // Request objects are pooled and reused.
    expect(blk.aioPool.size).to.equal(7);
    blk.aioPreadv(0, vec(512), 0, cb, blk);
    expect(blk.aioPool.size).to.equal(6);
    await settle();
  });

  it('in-flight: the BlockBackend counter is separate from the node counter', async () => {
    const env = newEnv();
    const { blk, bs, s } = await bbBackend(env);
    s.hold = true;
    const p = blk.coPreadv(0, 512, vec(512));
    // One on the BlockBackend; on the node, one from the BlockBackend and one from the I/O path.
    expect([blk.inFlight, bs.inFlight]).to.deep.equal([1, 2]);
    s.release();
    expect(await p).to.equal(0);
    expect([blk.inFlight, bs.inFlight]).to.deep.equal([0, 0]);
  });

  it('blk_drain on a BlockBackend without a node: the pending AIO completes with -ENOMEDIUM', async () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    let ret: number | undefined;
    const acb = blk.aioFlush((_: null, r: number) => (ret = r), null);
    expect(acb).to.not.equal(null);
    expect(ret).to.equal(undefined);
    await blk.drain();
    expect(ret).to.equal(-Errno.ENOMEDIUM);
  });

  it('blk_drain_all on a BlockBackend without a node: the pending AIO completes with -ENOMEDIUM', async () => {
    const env = newEnv();
    const { blk: other, s } = await bbBackend(env);
    const blk = new BlockBackend(env.graph);
    let ret: number | undefined;
    let otherRet: number | undefined;
    s.latencyNs = 100;
    other.aioPreadv(0, vec(512), 0, (_: null, r: number) => (otherRet = r), null);
    blk.aioFlush((_: null, r: number) => (ret = r), null);
    expect(ret).to.equal(undefined);
    const p = blkDrainAll(env.graph);
    await env.clock.advance(100);
    await p;
    expect(ret).to.equal(-Errno.ENOMEDIUM);
    expect(otherRet).to.equal(0);
    expect(env.graph.drainAllCount).to.equal(0);
  });

  it('blk_drain waits for requests in flight on the node', async () => {
    const env = newEnv();
    const { blk, s } = await bbBackend(env);
    s.latencyNs = 1000;
    let ret: number | undefined;
    blk.aioPwritev(0, vec(512), 0, (_: null, r: number) => (ret = r), null);
    let drained = false;
    const p = blk.drain().then(() => (drained = true));
    await settle();
    expect(drained).to.equal(false);
    await env.clock.advance(1000);
    await p;
    expect(ret).to.equal(0);
    expect(blk.quiesceCounter).to.equal(0);
  });

  it('drain_all quiesces the BlockBackend too (parks new requests until the end)', async () => {
    const env = newEnv();
    const { blk, s } = await bbBackend(env);
    await drainAllBegin(env.graph);
    expect(blk.quiesceCounter).to.equal(1);
    let ret: number | undefined;
    void blk.coPreadv(0, 512, vec(512)).then((r) => (ret = r));
    await settle();
    expect(s.ops('read')).to.deep.equal([]);
    drainAllEnd(env.graph);
    await settle();
    expect(ret).to.equal(0);
  });

  it('B6 (device side): a dataplane starting while the BlockBackend is in drain attaches only at drained_end', async () => {
    const env = newEnv();
    const { blk, bs } = await bbBackend(env);
    // A minimal device: attaches its notifier when started, unless in drain; the drain callbacks detach and re-attach.
    const device = {
      attached: false,
      started: false,
      start(): void {
        this.started = true;
        if (!blk.inDrain) this.attached = true;
      },
      drainedBegin(): void {
        this.attached = false;
      },
      drainedEnd(): void {
        if (this.started) this.attached = true;
      },
    };
    blk.setDevOps(device);
    await drainedBegin(bs);
    device.start();
    expect(device.attached).to.equal(false);
    drainedEnd(bs);
    expect(device.attached).to.equal(true);
    await drainedBegin(bs);
    expect(device.attached).to.equal(false);
    drainedEnd(bs);
    expect(device.attached).to.equal(true);
  });
});
