import { expect } from 'chai';
import { ConfigError } from '@vmkit/core';
import { XenbusState } from '@vmkit/xen-bus';
import { BlkifOp, BlkifStatus, VDISK_READONLY, XenBlockDevice } from '../src/index.js';
import { waitForWatch } from '../src/testing/index.js';
import { MiB, newRig, pattern, type Rig } from './helpers/rig.js';

const S = XenbusState;
const BE = '/local/domain/0/backend/qdisk/1/51712';
const FE = '/local/domain/1/device/vbd/51712';

function keys(rig: Rig, base: string, names: readonly string[]): Record<string, string | number> {
  return Object.fromEntries(names.map((k) => [k, rig.xen.store.read(`${base}/${k}`)]));
}

describe('xen-block device', () => {
  let rig: Rig;
  beforeEach(async () => {
    rig = await newRig();
  });
  afterEach(async () => {
    await rig.destroy();
  });

  it('realize publishes the backend keys (DESIGN §5) and waits in InitWait', async () => {
    await rig.addDisk('disk0', MiB);
    const dev = await rig.addDevice({ drive: 'disk0' });
    expect(dev.backendState).to.equal(S.InitWait);
    expect(
      keys(rig, BE, [
        'state',
        'online',
        'feature-flush-cache',
        'feature-discard',
        'discard-granularity',
        'discard-alignment',
        'max-ring-page-order',
        'info',
        'sector-size',
        'sectors',
        'mode',
      ]),
    ).to.deep.equal({
      state: '2',
      online: '1',
      'feature-flush-cache': '1',
      'feature-discard': '1',
      'discard-granularity': '512',
      'discard-alignment': '0',
      'max-ring-page-order': '4',
      info: '0',
      'sector-size': '512',
      sectors: '2048',
      mode: 'w',
    });
    expect(keys(rig, FE, ['virtual-device', 'device-type', 'backend', 'state'])).to.deep.equal({
      'virtual-device': '51712',
      'device-type': 'disk',
      backend: BE,
      state: '1',
    });
    expect(dev.blk?.attachedDevId).to.equal('xvda');
  });

  it('readonly, a read-only node, discard-enable and max-ring-page-order change the keys', async () => {
    await rig.addDisk('disk0', MiB);
    await rig.addDisk('ro', MiB, undefined, { readOnly: true, discard: 'ignore' });
    await rig.addDevice({
      drive: 'disk0',
      readonly: true,
      'discard-enable': false,
      'max-ring-page-order': 2,
    });
    expect(keys(rig, BE, ['info', 'mode', 'feature-discard', 'max-ring-page-order'])).to.deep.include({
      info: String(VDISK_READONLY),
      mode: 'r',
      'max-ring-page-order': '2',
    });
    expect(rig.xen.store.read(`${BE}/feature-discard`)).to.be.a('number'); // absent
    const dev2 = await rig.machine.deviceAdd<XenBlockDevice>({
      type: 'xen-block',
      id: 'xvdb',
      vdev: 'xvdb',
      drive: 'ro',
    });
    expect(dev2.readOnly).to.equal(true);
    expect(rig.xen.store.read(`${dev2.backendPath!}/info`)).to.equal(String(VDISK_READONLY));
    expect(rig.xen.store.read(`${dev2.backendPath!}/feature-discard`)).to.be.a('number');
  });

  it('property rules: max-ring-page-order 0..4, a missing drive, a drive already in use', async () => {
    await rig.addDisk('disk0', MiB);
    const fail = async (props: Record<string, unknown>): Promise<string> => {
      try {
        await rig.machine.deviceAdd({ type: 'xen-block', id: 'x', vdev: 'xvdc', ...props });
      } catch (e) {
        expect(e).to.be.instanceOf(ConfigError);
        return (e as Error).message;
      }
      throw new Error('deviceAdd succeeded');
    };
    expect(await fail({ drive: 'disk0', 'max-ring-page-order': 5 })).to.equal(
      "xen-block 'x': property 'max-ring-page-order' = 5: must be between 0 and 4",
    );
    expect(await fail({ drive: 'nope' })).to.match(/property 'drive' = 'nope': no blockdev 'nope'/);
    expect(await fail({ drive: 'disk0', 'logical-block-size': 1000 })).to.match(/power of two/);
    await rig.addDevice({ drive: 'disk0' });
    expect(await fail({ drive: 'disk0' })).to.match(/permission|in use|conflict/i);
    expect(rig.machine.hasDevice('x')).to.equal(false);
    expect(rig.xen.store.read('/local/domain/0/backend/qdisk/1/51744')).to.be.a('number'); // area removed
  });

  it('handshake: InitWait → Connected, then the frontend closes: Closed, ring unmapped, port unbound', async () => {
    await rig.addDisk('disk0', MiB);
    const dev = await rig.addDevice({ drive: 'disk0' });
    const front = rig.frontend();
    const info = await front.connect();
    expect(dev.backendState).to.equal(S.Connected);
    expect(info).to.deep.include({ sectors: 2048, sectorSize: 512, featureFlushCache: true, ringSize: 32 });
    const ref = front.ringRefs[0];
    expect(rig.guest.isGrantMapped(ref)).to.equal(true);
    expect(rig.guest.portStatus(front.port)?.kind).to.equal('interdomain');
    expect(dev.dataplane?.started).to.equal(true);

    const port = front.port;
    front.setState(S.Closing);
    await rig.settle();
    expect(dev.backendState).to.equal(S.Closing);
    front.setState(S.Closed);
    await rig.settle();
    expect(dev.backendState).to.equal(S.Closed);
    expect(dev.dataplane?.started).to.equal(false);
    expect(rig.guest.isGrantMapped(ref)).to.equal(false);
    expect(rig.guest.portStatus(port)?.kind).to.equal('unbound');
    front.teardown();
    expect(front.leakedRingRefs).to.deep.equal([]);
  });

  it('a frontend that reconnects (Closing → Closed → Initialising → InitWait → Connected) gets a new dataplane', async () => {
    await rig.addDisk('disk0', MiB, pattern(MiB, 5));
    const dev = await rig.addDevice({ drive: 'disk0' });
    const f1 = rig.frontend({ protocol: 'x86_32-abi' });
    await f1.connect();
    await f1.write(0, pattern(4096, 1));
    await f1.close();
    expect(dev.backendState).to.equal(S.Closed);

    const f2 = rig.frontend({ protocol: 'x86_64-abi', ringPageOrder: 2 });
    f2.setState(S.Initialising);
    await rig.settle();
    expect(dev.backendState).to.equal(S.InitWait);
    const info = await f2.connect();
    expect(info.ringSize).to.equal(128);
    expect(dev.dataplane?.protocol).to.equal('x86_64-abi');
    expect(Buffer.from(await f2.read(0, 8)).equals(Buffer.from(pattern(4096, 1)))).to.equal(true);
    await f2.close();
  });

  it('logical-block-size 4096 needs feature-large-sector-size from the frontend', async () => {
    await rig.addDisk('disk0', MiB);
    const dev = await rig.addDevice({ drive: 'disk0', 'logical-block-size': 4096 });
    expect(rig.xen.store.read(`${BE}/sector-size`)).to.equal('4096');
    const f1 = rig.frontend();
    await f1.initialise();
    await rig.settle();
    expect(dev.backendState).to.equal(S.InitWait);
    expect(dev.lastError?.message).to.match(/logical_block_size != 512 not supported by frontend/);
    f1.teardown();

    const f2 = rig.frontend({ extraKeys: { 'feature-large-sector-size': '1' } });
    const info = await f2.connect();
    expect(info.sectorSize).to.equal(4096);
    await f2.write(8, pattern(4096, 2));
    expect(Buffer.from(await f2.read(8, 8)).equals(Buffer.from(pattern(4096, 2)))).to.equal(true);
    await f2.close();
  });

  it('a ring-page-order above max-ring-page-order is refused; the backend stays in InitWait', async () => {
    await rig.addDisk('disk0', MiB);
    const dev = await rig.addDevice({ drive: 'disk0', 'max-ring-page-order': 1 });
    const front = rig.frontend({ ringPageOrder: 2, forceRingPageOrder: true });
    await front.initialise();
    await rig.settle();
    expect(dev.backendState).to.equal(S.InitWait);
    expect(dev.lastError?.message).to.match(/invalid ring-page-order \(2\)/);
    expect(front.ringRefs.some((r) => rig.guest.isGrantMapped(r))).to.equal(false);
  });

  it('with an iothread the BlockBackend lives in the IOThread while connected, and comes back after', async () => {
    await rig.addDisk('disk0', MiB, pattern(MiB, 8));
    const io = rig.machine.objectAdd({ type: 'iothread', id: 'io0' });
    const dev = await rig.addDevice({ drive: 'disk0', iothread: 'io0' });
    expect(dev.blk?.aioContext).to.equal(rig.machine.mainContext);
    const front = rig.frontend();
    await front.connect();
    expect(dev.blk?.aioContext).to.equal(io);
    expect(dev.blk?.bs?.aioContext).to.equal(io);
    expect(dev.dataplane?.ctx).to.equal(io);
    const got = await front.read(0, 88);
    expect(Buffer.from(got).equals(Buffer.from(pattern(MiB, 8).subarray(0, 88 * 512)))).to.equal(true);
    await front.close();
    expect(dev.blk?.aioContext).to.equal(rig.machine.mainContext);
    expect(() => rig.machine.objectDel('io0')).to.throw(/in use by device 'xvda'/);
  });

  it('deviceDel while connected releases everything; deviceAdd with the same id serves a new frontend', async () => {
    await rig.addDisk('disk0', MiB, pattern(MiB, 9));
    const io = rig.machine.objectAdd({ type: 'iothread', id: 'io0' });
    await rig.addDevice({ drive: 'disk0', iothread: 'io0' });
    const f1 = rig.frontend();
    await f1.connect();
    const results = await Promise.all([f1.read(0, 8), f1.read(8, 8), f1.read(16, 8)]);
    expect(
      Buffer.from(results[2]).equals(Buffer.from(pattern(MiB, 9).subarray(16 * 512, 24 * 512))),
    ).to.equal(true);
    const ref = f1.ringRefs[0];
    await rig.machine.deviceDel('xvda');
    expect(rig.guest.isGrantMapped(ref)).to.equal(false);
    expect(rig.xen.store.read(BE)).to.be.a('number');
    expect(rig.layer.node('disk0').parents).to.deep.equal([]);
    expect(rig.layer.node('disk0').aioContext).to.not.equal(io);
    f1.teardown();

    const dev = await rig.addDevice({ drive: 'disk0', iothread: 'io0' });
    expect(dev.backendState).to.equal(S.InitWait);
    const f2 = rig.frontend();
    await f2.connect();
    expect(Buffer.from(await f2.read(0, 8)).equals(Buffer.from(pattern(MiB, 9).subarray(0, 4096)))).to.equal(
      true,
    );
    await f2.close();
  });

  it('unplug (online 0, Closing) with requests in flight answers them all before Closed, then the bus removes it', async () => {
    await rig.machine.blockdevAdd({ driver: 'null-co', nodeName: 'slow', size: MiB, latencyNs: 1_000_000 });
    const dev = await rig.addDevice({ drive: 'slow' });
    const front = rig.frontend();
    await front.connect();
    const answered: number[] = [];
    const reads = Array.from({ length: 12 }, (_, i) =>
      front.submit({ operation: BlkifOp.READ, sector: i * 8, segments: [] }).then((r) => {
        answered.push(i);
        return r;
      }),
    );
    await rig.settle();
    expect(dev.dataplane?.requestsInflight).to.equal(12);
    expect(rig.bus.unplugRequest(dev)).to.equal(0);
    const closed = front.close();
    await rig.settle();
    expect(dev.backendState).to.equal(S.Closing); // waiting for the requests
    expect(answered).to.deep.equal([]);
    // How many responses the ring held when the guest first saw Closed.
    const ring = front.ring!;
    const base = ring.rspCons;
    const answeredAtClosed = waitForWatch(rig.guest.store, `${BE}/state`, () =>
      rig.guest.store.read(`${BE}/state`) === '6' ? (ring.sring.rspProd - base) >>> 0 : undefined,
    );
    await rig.clock.advance(1_000_000);
    await closed;
    await rig.settle();
    expect(await answeredAtClosed).to.equal(12);
    for (const r of await Promise.all(reads)) expect(r.status).to.equal(BlkifStatus.OKAY);
    expect(rig.machine.hasDevice('xvda')).to.equal(false);
    expect(rig.layer.node('slow').parents).to.deep.equal([]);
  });

  it('resize updates sectors and re-writes state so the frontend watch fires', async () => {
    await rig.addDisk('disk0', MiB);
    const dev = await rig.addDevice({ drive: 'disk0' });
    const front = rig.frontend();
    await front.connect();
    let fired = 0;
    rig.guest.store.watch(`${BE}/state`, 'resize-test', () => fired++);
    await rig.settle();
    fired = 0;
    await rig.layer.blockResize('disk0', 3 * MiB);
    await rig.settle();
    expect(rig.xen.store.read(`${BE}/sectors`)).to.equal(String(6144));
    expect(rig.xen.store.read(`${BE}/state`)).to.equal(String(S.Connected));
    expect(dev.backendState).to.equal(S.Connected);
    expect(fired).to.equal(1);
    // The new space is usable at once.
    await front.write(6144 - 8, pattern(4096, 3));
    expect(Buffer.from(await front.read(6144 - 8, 8)).equals(Buffer.from(pattern(4096, 3)))).to.equal(true);
    await front.close();
  });
});
