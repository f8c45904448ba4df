import { expect } from 'chai';
import { ConfigError } from '@vmkit/core';
import { BlockAcctType as A } from '@vmkit/block-layer';
import { createVirtioMmioSlot, featureBit } from '@vmkit/virtio';
import { VirtioBlkFeature as F, VirtioBlkStatus as S, virtioBlkPlugin } from '../src/index.js';
import { makeRig, pattern, turns, type Rig } from './helpers/rig.js';

async function refusal(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('virtio-blk device', () => {
  let rig: Rig;
  afterEach(async () => {
    await rig.machine.destroy();
  });

  describe('read-only', () => {
    it('a read-only drive gives a read-only device: VIRTIO_BLK_F_RO, writes answer IOERR, reads work', async () => {
      rig = await makeRig({ readOnlyNode: true });
      expect(rig.driver.virtio.readDeviceFeatures() & featureBit(F.RO)).to.not.equal(0n);
      expect(rig.driver.hasFeature(F.RO)).to.equal(true);
      expect((await rig.driver.read(0, 512)).status).to.equal(S.OK);
      expect((await rig.driver.write(0, pattern(512))).status).to.equal(S.IOERR);
      expect((await rig.driver.writeZeroes([{ sector: 0, numSectors: 1 }])).status).to.equal(S.IOERR);
      expect(rig.disk.ops('write')).to.have.length(0);
      expect(rig.blk().stats.failedOps[A.WRITE]).to.equal(2);
    });

    it('readonly=true on a writable drive: RO offered and writes refused without reaching the drive', async () => {
      rig = await makeRig({ props: { readonly: true } });
      expect(rig.driver.hasFeature(F.RO)).to.equal(true);
      expect((await rig.driver.write(0, pattern(512))).status).to.equal(S.IOERR);
      expect(rig.disk.ops('write')).to.have.length(0);
      expect(rig.disk.bytes(0, 512)).to.deep.equal(new Uint8Array(512));
    });

    it('readonly=false on a read-only drive is refused at realize: Block node is read-only', async () => {
      rig = await makeRig({ readOnlyNode: true });
      await rig.machine.deviceDel('vda');
      const e = await refusal(rig.addDevice({ readonly: false }));
      expect(e.message).to.equal("virtio-blk 'vda': Block node is read-only");
      expect(rig.machine.hasDevice('vda')).to.equal(false);
      expect(rig.node.parents).to.have.length(0);
    });
  });

  describe('properties (reference §4.5)', () => {
    beforeEach(async () => {
      rig = await makeRig({ init: false });
      await rig.machine.deviceDel('vda');
    });

    it('queue-size must be a power of two between 4 and 1024', async () => {
      for (const size of [2, 3, 100, 2048]) {
        const e = await refusal(rig.addDevice({ 'queue-size': size }));
        expect(e.message).to.equal(
          `virtio-blk 'vda': property 'queue-size' = ${size}: must be a power of two between 4 and 1024`,
        );
      }
      await rig.addDevice({ 'queue-size': 4 });
    });

    it('max-discard-sectors and max-write-zeroes-sectors must be in [1, 4194303] when the feature is on', async () => {
      for (const [prop, value] of [
        ['max-discard-sectors', 0],
        ['max-discard-sectors', 4194304],
        ['max-write-zeroes-sectors', 0],
        ['max-write-zeroes-sectors', 0xffff_ffff],
      ] as const) {
        const e = await refusal(rig.addDevice({ [prop]: value }));
        expect(e.message).to.equal(
          `virtio-blk 'vda': invalid ${prop} property (${value}), must be between 1 and 4194303`,
        );
      }
      // Not checked when the feature is off.
      await rig.addDevice({ discard: false, 'max-discard-sectors': 0 });
    });

    it('logical-block-size above physical-block-size is refused', async () => {
      const e = await refusal(rig.addDevice({ 'logical-block-size': 4096 }));
      expect(e.message).to.equal("virtio-blk 'vda': logical_block_size > physical_block_size not supported");
      const f = await refusal(rig.addDevice({ 'logical-block-size': 1000 }));
      expect(f.message).to.match(/must be a power of two between 512 and 2M/);
    });

    it('drive is required and must exist; num-queues is 1; werror values are checked', async () => {
      const e = await refusal(rig.machine.deviceAdd({ type: 'virtio-blk', id: 'vdb' }));
      expect(e.message).to.equal("virtio-blk 'vdb': property 'drive' is required");
      const f = await refusal(rig.machine.deviceAdd({ type: 'virtio-blk', id: 'vdb', drive: 'nope' }));
      expect(f.message).to.equal("virtio-blk 'vdb': property 'drive' = 'nope': no blockdev 'nope'");
      const g = await refusal(rig.addDevice({ 'num-queues': 2 }));
      expect(g.message).to.match(/num-queues/);
      const h = await refusal(rig.addDevice({ werror: 'explode' }));
      expect(h.message).to.match(/werror/);
    });

    it('a drive another device writes to is refused (permission conflict), and the refusal leaves nothing', async () => {
      await rig.addDevice();
      createVirtioMmioSlot(rig.machine, { memory: rig.memory, name: 'virtio-mmio.1' });
      const e = await refusal(
        rig.machine.deviceAdd({ type: 'virtio-blk', id: 'vdb', drive: 'disk0', bus: 'virtio-mmio.1' }),
      );
      expect(e.message).to.match(/^virtio-blk 'vdb': .*Conflicts with use by block device 'vda'/);
      expect(rig.node.parents).to.have.length(1);
      expect(rig.machine.hasDevice('vdb')).to.equal(false);
    });

    it('a named drive already attached to a device is refused', async () => {
      rig.layer.addBlockBackend('drive0', { node: 'disk0' });
      await rig.machine.deviceAdd({ type: 'virtio-blk', id: 'vdb', drive: 'drive0' });
      createVirtioMmioSlot(rig.machine, { memory: rig.memory, name: 'virtio-mmio.1' });
      const e = await refusal(
        rig.machine.deviceAdd({ type: 'virtio-blk', id: 'vdc', drive: 'drive0', bus: 'virtio-mmio.1' }),
      );
      expect(e.message).to.equal("virtio-blk 'vdc': Drive 'drive0' is already in use by another device");
    });
  });

  describe('plugin and lifecycle', () => {
    it('virtioBlkPlugin depends on the virtio and block-layer plugins', () => {
      expect(virtioBlkPlugin.name).to.equal('virtio-blk');
      expect([...virtioBlkPlugin.dependencies]).to.have.members(['virtio', 'block-layer']);
    });

    for (const iothread of [false, true]) {
      it(`deviceDel then deviceAdd with the same id works; everything is released (${iothread ? 'iothread' : 'main'})`, async () => {
        rig = await makeRig({ iothread });
        await rig.driver.write(0, pattern(512, 1));
        const blk = rig.blk();
        expect(rig.node.parents).to.have.length(1);
        await rig.machine.deviceDel('vda');
        expect(rig.machine.hasDevice('vda')).to.equal(false);
        expect(blk.deleted).to.equal(true);
        expect(rig.node.parents).to.have.length(0);
        expect(rig.node.aioContext).to.equal(rig.machine.mainContext);
        expect(rig.slot.device).to.equal(null);
        if (iothread) {
          // Nothing links to the iothread any more: it can be deleted and created again.
          rig.machine.objectDel('io0');
          rig.machine.objectAdd({ type: 'iothread', id: 'io0' });
        }
        await rig.addDevice();
        const driver = rig.newDriver();
        driver.init();
        expect((await driver.read(0, 512)).data).to.deep.equal(pattern(512, 1));
        expect((await driver.write(1, pattern(512, 2))).status).to.equal(S.OK);
        expect(rig.blk()).to.not.equal(blk);
      });
    }

    it('deviceDel while requests are in flight waits for them and releases the drive', async () => {
      rig = await makeRig({ iothread: true });
      rig.disk.hold = true;
      rig.driver.submitWrite(0, pattern(512));
      rig.driver.kick();
      await turns(10);
      expect(rig.disk.heldCount).to.equal(1);
      const del = rig.machine.deviceDel('vda');
      await turns(5);
      expect(rig.machine.hasDevice('vda')).to.equal(true);
      rig.disk.release();
      await del;
      expect(rig.node.parents).to.have.length(0);
    });

    it('a named BlockBackend keeps its monitor reference after deviceDel', async () => {
      rig = await makeRig({ init: false });
      await rig.machine.deviceDel('vda');
      const named = rig.layer.addBlockBackend('drive0', { node: 'disk0' });
      await rig.machine.deviceAdd({ type: 'virtio-blk', id: 'vda', drive: 'drive0', werror: 'stop' });
      expect(named.attachedDevId).to.equal('vda');
      expect(named.getOnError(false)).to.equal('stop');
      await rig.machine.deviceDel('vda');
      expect(named.deleted).to.equal(false);
      expect(named.attachedDev).to.equal(null);
      expect(named.refcount).to.equal(1);
    });
  });
});
