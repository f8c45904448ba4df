import { expect } from 'chai';
import { VirtioFeature, VirtioMmioRegister as R, featureBit } from '@vmkit/virtio';
import { VirtioBlkFeature as F, VirtioBlkStatus as S } from '../src/index.js';
import { withoutFeatures } from '../src/testing/index.js';
import { makeRig, pattern, until, type Rig } from './helpers/rig.js';

const FUA = 0x10;

function has(features: bigint, bit: number): boolean {
  return (features & featureBit(bit)) !== 0n;
}

describe('virtio-blk config space and features', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  it('config of a 64 MiB disk with the defaults (virtio_blk_update_config)', async () => {
    rig = await makeRig();
    expect(rig.driver.config()).to.deep.equal({
      capacity: 131072n,
      sizeMax: 0,
      segMax: 254,
      geometry: { cylinders: 130, heads: 16, sectors: 63 },
      blkSize: 512,
      physicalBlockExp: 0,
      alignmentOffset: 0,
      minIoSize: 0,
      optIoSize: 0,
      wce: 1,
      numQueues: 1,
      maxDiscardSectors: 4194303,
      maxDiscardSeg: 1,
      discardSectorAlignment: 1,
      maxWriteZeroesSectors: 4194303,
      maxWriteZeroesSeg: 1,
      writeZeroesMayUnmap: 1,
    });
  });

  it('offered features: SEG_MAX, GEOMETRY, TOPOLOGY, BLK_SIZE, FLUSH, CONFIG_WCE, DISCARD, WRITE_ZEROES and the ring features', async () => {
    rig = await makeRig();
    const offered = rig.driver.virtio.readDeviceFeatures();
    for (const bit of [
      F.SEG_MAX,
      F.GEOMETRY,
      F.TOPOLOGY,
      F.BLK_SIZE,
      F.FLUSH,
      F.CONFIG_WCE,
      F.DISCARD,
      F.WRITE_ZEROES,
    ])
      expect(has(offered, bit), `bit ${bit}`).to.equal(true);
    for (const bit of [
      VirtioFeature.RING_INDIRECT_DESC,
      VirtioFeature.RING_EVENT_IDX,
      VirtioFeature.ANY_LAYOUT,
      VirtioFeature.VERSION_1,
    ])
      expect(has(offered, bit), `bit ${bit}`).to.equal(true);
    for (const bit of [F.RO, F.MQ, F.SIZE_MAX, F.SCSI, F.BARRIER])
      expect(has(offered, bit), `bit ${bit}`).to.equal(false);
    expect(rig.driver.virtio.deviceId).to.equal(2);
  });

  it('queue-size 128 gives seg_max 126; block sizes give blk_size, physical_block_exp and the discard alignment', async () => {
    rig = await makeRig({
      props: { 'queue-size': 128, 'logical-block-size': 4096, 'physical-block-size': 16384 },
    });
    const c = rig.driver.config();
    expect(c.segMax).to.equal(126);
    expect(c.blkSize).to.equal(4096);
    expect(c.physicalBlockExp).to.equal(2);
    expect(c.discardSectorAlignment).to.equal(8);
    expect(rig.driver.virtio.queueNumMax(0)).to.equal(128);
  });

  it('discard=off and write-zeroes=off remove the features and shrink the config space', async () => {
    rig = await makeRig({ props: { discard: false } });
    let offered = rig.driver.virtio.readDeviceFeatures();
    expect(has(offered, F.DISCARD)).to.equal(false);
    expect(has(offered, F.WRITE_ZEROES)).to.equal(true);
    expect(rig.driver.config().maxDiscardSectors).to.equal(0);
    expect(rig.driver.config().maxWriteZeroesSectors).to.equal(4194303);
    await rig.machine.destroy();
    rig = await makeRig({ props: { discard: false, 'write-zeroes': false } });
    offered = rig.driver.virtio.readDeviceFeatures();
    expect(has(offered, F.WRITE_ZEROES)).to.equal(false);
    // Config space ends after num_queues: reads beyond it return all ones.
    expect(rig.driver.virtio.readConfig16(34)).to.equal(1);
    expect(rig.driver.virtio.readConfig32(36)).to.equal(0xffff_ffff);
  });

  it('config-wce=off: no CONFIG_WCE; FLUSH still offered with a write-back cache', async () => {
    rig = await makeRig({ props: { 'config-wce': false } });
    const offered = rig.driver.virtio.readDeviceFeatures();
    expect(has(offered, F.CONFIG_WCE)).to.equal(false);
    expect(has(offered, F.FLUSH)).to.equal(true);
  });

  it('CONFIG_WCE: the guest turns the cache off (writes get FUA) and on again; reset restores it', async () => {
    rig = await makeRig();
    rig.driver.setWriteCache(false);
    expect(rig.driver.config().wce).to.equal(0);
    await rig.driver.write(0, pattern(512));
    rig.driver.setWriteCache(true);
    expect(rig.driver.config().wce).to.equal(1);
    await rig.driver.write(1, pattern(512));
    const flags = rig.disk.ops('write').map((w) => w.flags & FUA);
    expect(flags).to.deep.equal([FUA, 0]);
    rig.driver.setWriteCache(false);
    rig.driver.init();
    expect(rig.driver.config().wce).to.equal(1);
  });

  it('without CONFIG_WCE the write cache follows the negotiated FLUSH feature at DRIVER_OK', async () => {
    rig = await makeRig();
    rig.driver.init({ features: withoutFeatures(F.CONFIG_WCE, F.FLUSH) });
    expect(rig.driver.config().wce).to.equal(0);
    // The guest cannot change it without CONFIG_WCE.
    rig.driver.setWriteCache(true);
    expect(rig.driver.config().wce).to.equal(0);
    await rig.driver.write(0, pattern(512));
    expect(rig.disk.ops('write')[0].flags & FUA).to.equal(FUA);
    rig.driver.init({ features: withoutFeatures(F.CONFIG_WCE) });
    expect(rig.driver.config().wce).to.equal(1);
  });

  it('resize raises a config interrupt and the capacity follows (test_config: 64 MiB → 32 MiB)', async () => {
    rig = await makeRig();
    expect(rig.driver.capacity()).to.equal(131072);
    const gen = rig.driver.virtio.read(R.CONFIG_GENERATION);
    await rig.layer.blockResize('disk0', 32 << 20);
    await until(() => rig.driver.virtio.configInterrupts === 1);
    expect(rig.driver.capacity()).to.equal(65536);
    expect(rig.driver.virtio.read(R.CONFIG_GENERATION)).to.not.equal(gen);
    expect((await rig.driver.read(65536 - 1, 512)).status).to.equal(S.OK);
    expect((await rig.driver.read(65536, 512)).status).to.equal(S.IOERR);
  });
});
