import { expect } from 'chai';
import { Errno, type BlockIoErrorEvent } from '@vmkit/core';
import { BlockAcctType as A } from '@vmkit/block-layer';
import { VirtioBlkStatus as S, VirtioBlkType as T } from '../src/index.js';
import { makeRig, pattern, turns, until, type Rig } from './helpers/rig.js';

describe('virtio-blk error actions (werror/rerror, reference §4.4)', () => {
  let rig: Rig;
  let events: BlockIoErrorEvent[];
  async function setup(props: Record<string, unknown>, iothread = false): Promise<void> {
    rig = await makeRig({ props, iothread });
    events = [];
    rig.machine.events.on('block-io-error', (e) => events.push(e));
  }
  afterEach(async () => {
    await rig.machine.destroy();
  });

  it('werror=report: IOERR, failed accounting, BLOCK_IO_ERROR with action report', async () => {
    await setup({ werror: 'report' });
    rig.disk.errors.push({ op: 'write', ret: -Errno.EIO });
    const c = await rig.driver.write(0, pattern(512));
    expect(c.status).to.equal(S.IOERR);
    expect(rig.blk().stats.failedOps[A.WRITE]).to.equal(1);
    expect(rig.blk().stats.nrOps[A.WRITE]).to.equal(0);
    expect(events.map((e) => [e.operation, e.action, e.errno])).to.deep.equal([
      ['write', 'report', Errno.EIO],
    ]);
    expect(rig.machine.runState).to.equal('running');
  });

  it('werror=ignore: the failed write completes OK and is accounted done; the event is still sent', async () => {
    await setup({ werror: 'ignore' });
    rig.disk.errors.push({ op: 'write', ret: -Errno.EIO });
    const c = await rig.driver.write(0, pattern(512));
    expect(c.status).to.equal(S.OK);
    expect(rig.blk().stats.nrOps[A.WRITE]).to.equal(1);
    expect(rig.blk().stats.failedOps[A.WRITE]).to.equal(0);
    expect(events.map((e) => e.action)).to.deep.equal(['ignore']);
  });

  it('rerror applies to reads, werror to flush, discard and write-zeroes', async () => {
    await setup({ rerror: 'report', werror: 'ignore' });
    rig.disk.errors.push({ op: 'read', ret: -Errno.EIO }, { op: 'flush', ret: -Errno.EIO });
    expect((await rig.driver.read(0, 512)).status).to.equal(S.IOERR);
    expect((await rig.driver.flush()).status).to.equal(S.OK);
    expect(events.map((e) => [e.operation, e.action])).to.deep.equal([
      ['read', 'report'],
      ['write', 'ignore'],
    ]);
  });

  it('discard failures are never accounted; write-zeroes failures are (report)', async () => {
    await setup({ werror: 'report' });
    rig.disk.errors.push({ op: 'discard', ret: -Errno.EIO }, { op: 'zero', ret: -Errno.EIO });
    expect((await rig.driver.discard([{ sector: 0, numSectors: 1 }])).status).to.equal(S.IOERR);
    expect((await rig.driver.writeZeroes([{ sector: 0, numSectors: 1 }])).status).to.equal(S.IOERR);
    const stats = rig.blk().stats;
    expect(stats.failedOps[A.UNMAP]).to.equal(0);
    expect(stats.failedOps[A.WRITE]).to.equal(1);
  });

  it('werror auto keeps the BlockBackend policy (enospc): ENOSPC stops, EIO reports', async () => {
    await setup({});
    rig.disk.errors.push({ op: 'write', ret: -Errno.EIO });
    expect((await rig.driver.write(0, pattern(512))).status).to.equal(S.IOERR);
    rig.disk.errors.push({ op: 'write', ret: -Errno.ENOSPC });
    const req = rig.driver.submitWrite(1, pattern(512, 2));
    rig.driver.kick();
    await until(() => rig.machine.runState === 'paused');
    expect(rig.machine.stopReason).to.equal('io-error');
    expect(rig.blk().iostatus).to.equal('nospace');
    rig.machine.cont();
    expect((await rig.driver.wait(req)).status).to.equal(S.OK);
    expect(events.map((e) => [e.action, e.nospace])).to.deep.equal([
      ['report', false],
      ['stop', true],
    ]);
  });

  for (const iothread of [false, true]) {
    it(`werror=stop keeps the request, stops the machine; cont retries it and the data lands exactly once (${iothread ? 'iothread' : 'main'})`, async () => {
      await setup({ werror: 'stop' }, iothread);
      const data = pattern(1024, 7);
      rig.disk.errors.push({ op: 'write', ret: -Errno.EIO });
      const req = rig.driver.submitWrite(16, data);
      rig.driver.kick();
      await until(() => rig.machine.runState === 'paused');
      await turns(10);
      expect(rig.driver.completion(req)).to.equal(undefined);
      expect(rig.driver.queue.deviceUsedIdx).to.equal(0);
      expect(rig.blk().iostatus).to.equal('failed');
      expect(events.map((e) => [e.operation, e.action])).to.deep.equal([['write', 'stop']]);
      expect(rig.disk.bytes(16 * 512, 1024)).to.deep.equal(new Uint8Array(1024));
      rig.machine.cont();
      const c = await rig.driver.wait(req);
      expect(c.status).to.equal(S.OK);
      await turns(10);
      expect(rig.driver.queue.deviceUsedIdx).to.equal(1);
      const writes = rig.disk.ops('write');
      expect(writes.map((w) => [w.offset, w.bytes, w.ret])).to.deep.equal([
        [16 * 512, 1024, -Errno.EIO],
        [16 * 512, 1024, 0],
      ]);
      expect(rig.disk.bytes(16 * 512, 1024)).to.deep.equal(data);
      const stats = rig.blk().stats;
      expect(stats.nrOps[A.WRITE]).to.equal(1);
      expect(stats.failedOps[A.WRITE]).to.equal(0);
      expect(rig.blk().inFlight).to.equal(0);
    });
  }

  it('werror=stop on a merged run keeps every request; the retry merges them again', async () => {
    await setup({ werror: 'stop' });
    rig.disk.errors.push({ op: 'write', ret: -Errno.EIO });
    const reqs = [0, 1, 2].map((s) => rig.driver.submitWrite(s, pattern(512, s + 1)));
    rig.driver.kick();
    await until(() => rig.machine.runState === 'paused');
    expect(events).to.have.length(3);
    rig.machine.cont();
    for (const r of reqs) expect((await rig.driver.wait(r)).status).to.equal(S.OK);
    expect(rig.disk.ops('write').map((w) => [w.bytes, w.ret])).to.deep.equal([
      [1536, -Errno.EIO],
      [1536, 0],
    ]);
    expect(rig.blk().stats.merged[A.WRITE]).to.equal(4);
  });

  it('rerror=stop: a failed read is retried after cont and returns the data', async () => {
    await setup({ rerror: 'stop' });
    await rig.driver.write(3, pattern(512, 3));
    rig.disk.errors.push({ op: 'read', ret: -Errno.EIO });
    const req = rig.driver.submitRead(3, 512);
    rig.driver.kick();
    await until(() => rig.machine.runState === 'paused');
    rig.machine.cont();
    const c = await rig.driver.wait(req);
    expect(c.status).to.equal(S.OK);
    expect(c.data).to.deep.equal(pattern(512, 3));
  });

  it('a reset drops the requests kept by stop; the device works again afterwards', async () => {
    await setup({ werror: 'stop' });
    rig.disk.errors.push({ op: 'write', ret: -Errno.EIO });
    const req = rig.driver.submitWrite(0, pattern(512, 1));
    rig.driver.kick();
    await until(() => rig.machine.runState === 'paused');
    rig.driver.init();
    rig.machine.cont();
    await turns(10);
    expect(rig.driver.completion(req)).to.equal(undefined);
    expect(rig.disk.ops('write')).to.have.length(1);
    expect(rig.device.inFlightRequests).to.equal(0);
    expect((await rig.driver.write(0, pattern(512, 2))).status).to.equal(S.OK);
    expect((await rig.driver.request({ type: T.IN, sector: 0, inLength: 512 })).data).to.deep.equal(
      pattern(512, 2),
    );
  });
});
