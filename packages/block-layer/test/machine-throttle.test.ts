import { expect } from 'chai';
import { ConfigError, IOVector, Machine, VirtualClock } from '@vmkit/core';
import { blockLayerOf, blockLayerPlugin, ThrottleGroupObject } from '../src/index.js';
import { settle } from './helpers-backend/bb-driver.js';
import { rejects } from './helpers/machine.js';

async function setup(): Promise<{ m: Machine; clock: VirtualClock }> {
  const clock = new VirtualClock();
  const m = await Machine.create({ plugins: [blockLayerPlugin], clock });
  await m.blockdevAdd({ driver: 'null-co', nodeName: 'n0' });
  await m.blockdevAdd({ driver: 'null-co', nodeName: 'n1' });
  await m.blockdevAdd({ driver: 'null-co', nodeName: 'n2' });
  return { m, clock };
}

describe('machine: block_set_io_throttle and throttle-group objects (iotest 093)', () => {
  it('the default group is the device name; query-block reports the limits and the group', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    layer.addBlockBackend('drive0', { node: 'n0' });
    await layer.setIoThrottle('drive0', { iops: 100, bps: 50 });
    const info = layer.queryBlock()[0].inserted!;
    expect([info.iops, info.bps, info.group]).to.deep.equal([100, 50, 'drive0']);
    expect(layer.throttleGroups.exists('drive0')).to.equal(true);
  });

  it('a device id finds the anonymous BlockBackend of a device', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    const blk = m.blockBackend('n0');
    blk.attachDev({}, 'vda');
    await layer.setIoThrottle('vda', { iops_rd: 10 });
    expect(blk.ioLimitsGroup).to.equal('vda');
  });

  it('clearing all limits removes the BlockBackend from its group, and the group with its last member', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    const blk = layer.addBlockBackend('drive0', { node: 'n0' });
    await layer.setIoThrottle('drive0', { iops: 100 });
    await layer.setIoThrottle('drive0', {});
    expect(blk.ioLimitsGroup).to.equal(undefined);
    expect(layer.throttleGroups.exists('drive0')).to.equal(false);
    expect(layer.queryBlock()[0].inserted!.iops).to.equal(0);
  });

  it('group= moves one drive between groups without affecting the others', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    const d0 = layer.addBlockBackend('drive0', { node: 'n0' });
    const d1 = layer.addBlockBackend('drive1', { node: 'n1' });
    const d2 = layer.addBlockBackend('drive2', { node: 'n2' });
    for (const d of ['drive0', 'drive1', 'drive2'])
      await layer.setIoThrottle(d, { iops: 100, group: 'test' });
    expect([d0, d1, d2].map((d) => d.ioLimitsGroup)).to.deep.equal(['test', 'test', 'test']);
    await layer.setIoThrottle('drive1', { iops: 50, group: 'other' });
    expect([d0, d1, d2].map((d) => d.ioLimitsGroup)).to.deep.equal(['test', 'other', 'test']);
    const iops = layer.queryBlock().map((b) => b.inserted!.iops);
    expect(iops).to.deep.equal([100, 50, 100]);
    expect(layer.throttleGroups.byName('test')!.memberCount).to.equal(2);
    // Without group=, a throttled drive keeps its group.
    await layer.setIoThrottle('drive1', { iops: 70 });
    expect(d1.ioLimitsGroup).to.equal('other');
  });

  it('errors: unknown device, no medium (GenericError text), invalid limits', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    await rejects(layer.setIoThrottle('nope', { iops: 1 }), "Device 'nope' not found");
    layer.addBlockBackend('cd0');
    await rejects(layer.setIoThrottle('cd0', { iops: 1 }), 'Device has no medium');
    layer.addBlockBackend('drive0', { node: 'n0' });
    await rejects(
      layer.setIoThrottle('drive0', { bps: 1, bps_rd: 1 }),
      'bps/iops/max total values and read/write values cannot be used at the same time',
    );
    expect(layer.throttleGroups.names).to.deep.equal([]);
  });

  it('removable media: limits are still reported after open-tray, remove-medium and insert-medium', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    const blk = layer.addBlockBackend('cd0', { node: 'n0' });
    let trayOpen = false;
    blk.attachDev({}, 'scsi-cd');
    blk.setDevOps({ changeMedia: (load) => (trayOpen = !load), isTrayOpen: () => trayOpen });
    await layer.setIoThrottle('cd0', { iops: 100, bps: 50 });
    blk.devChangeMedia(false);
    expect(layer.queryBlock()[0].tray_open).to.equal(true);
    const bs = blk.bs!;
    bs.ref();
    await blk.removeBs();
    expect(layer.queryBlock()[0].inserted).to.equal(undefined);
    await rejects(layer.setIoThrottle('cd0', { iops: 1 }), 'Device has no medium');
    blk.insertBs(bs);
    bs.unref();
    blk.devChangeMedia(true);
    const info = layer.queryBlock()[0];
    expect([info.tray_open, info.inserted!.iops, info.inserted!.bps]).to.deep.equal([false, 100, 50]);
  });

  it('throttle-group objects: x-* properties, joined by name, not deletable while used', async () => {
    const { m, clock } = await setup();
    const layer = blockLayerOf(m);
    const obj = m.objectAdd<ThrottleGroupObject>({ type: 'throttle-group', id: 'tg0', 'x-iops-total': 1 });
    expect(obj.getProperty('x-iops-total')).to.equal(1);
    const blk = layer.addBlockBackend('drive0', { node: 'n0' });
    blk.ioLimitsEnable('tg0');
    let done = 0;
    for (let i = 0; i < 3; i++)
      blk.aioPreadv(0, IOVector.fromBuffer(new Uint8Array(512)), 0, () => done++, null);
    await settle();
    expect(done).to.equal(1);
    await clock.advance(1_000_000_000);
    await settle();
    expect(done).to.equal(2);
    expect(() => m.objectDel('tg0')).to.throw(
      ConfigError,
      "object 'tg0' is in use: throttle group 'tg0' has block devices in it",
    );
    await blk.drain();
    await blk.ioLimitsDisable();
    m.objectDel('tg0');
    expect(layer.throttleGroups.exists('tg0')).to.equal(false);
  });

  it('throttle-group objects: QEMU texts for negative values and duplicate names', async () => {
    const { m } = await setup();
    const layer = blockLayerOf(m);
    expect(() => m.objectAdd({ type: 'throttle-group', id: 'tg1', 'x-bps-total': -1 })).to.throw(
      'Property values cannot be negative',
    );
    layer.addBlockBackend('drive0', { node: 'n0' });
    await layer.setIoThrottle('drive0', { iops: 10 });
    expect(() => m.objectAdd({ type: 'throttle-group', id: 'drive0' })).to.throw(
      'A group with this name already exists',
    );
  });
});
