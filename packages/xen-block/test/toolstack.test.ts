import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { XenbusState, type XenStore } from '@vmkit/xen-bus';
import { XenBlockDevice } from '../src/index.js';
import { MiB, newRig, pattern, type Rig } from './helpers/rig.js';
import { same } from './helpers/connect.js';

const BE = '/local/domain/0/backend/qdisk/1/51712';

/** What libxl writes to add a qdisk: the backend area, online = 1, state = Initialising. */
function toolstackAdd(dom0: XenStore, keys: Record<string, string>): void {
  for (;;) {
    const tx = dom0.transactionStart();
    dom0.write(BE, '', tx);
    dom0.setPermissions(
      BE,
      [
        { domid: 0, access: 'none' },
        { domid: 1, access: 'read' },
      ],
      tx,
    );
    dom0.write(`${BE}/frontend-id`, '1', tx);
    for (const [k, v] of Object.entries(keys)) dom0.write(`${BE}/${k}`, v, tx);
    dom0.write(`${BE}/online`, '1', tx);
    dom0.write(`${BE}/state`, String(XenbusState.Initialising), tx);
    if (dom0.transactionEnd(tx) === 0) return;
  }
}

describe('xen-block: the qdisk backend type (toolstack-created devices)', () => {
  let dir: string;
  let rig: Rig;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-qdisk-'));
    rig = await newRig();
  });
  afterEach(async () => {
    await rig.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a toolstack-created area becomes a device (drive, iothread), Connected, and is removed after Closed', async () => {
    const image = path.join(dir, 'disk.img');
    fs.writeFileSync(image, pattern(MiB, 70));
    toolstackAdd(rig.xen.store, {
      dev: 'xvda',
      'device-type': 'disk',
      params: `aio:${image}`,
      mode: 'w',
      'discard-enable': '1',
    });
    await rig.settle();
    await rig.bus.settled(); // opening the image file is real I/O
    await rig.settle();
    const dev = rig.machine.device<XenBlockDevice>('qdisk-51712');
    expect(dev).to.be.instanceOf(XenBlockDevice);
    expect(dev.backendPath).to.equal(BE);
    expect(dev.backendState).to.equal(XenbusState.InitWait);
    expect(rig.machine.hasObject('xvda')).to.equal(true);
    expect(rig.xen.store.read(`${BE}/feature-discard`)).to.equal('1');
    expect(rig.xen.store.read(`${BE}/sectors`)).to.equal('2048');

    const front = rig.frontend();
    await front.connect();
    expect(dev.backendState).to.equal(XenbusState.Connected);
    expect(dev.blk?.aioContext).to.equal(rig.machine.iothread('xvda'));
    expect(same(await front.read(0, 88), pattern(MiB, 70).subarray(0, 88 * 512))).to.equal(true);
    await front.write(16, pattern(4096, 71));
    await front.flush();
    expect(same(fs.readFileSync(image).subarray(16 * 512, 24 * 512), pattern(4096, 71))).to.equal(true);

    // libxl's removal: online = 0 and Closing; the frontend closes; the bus cleans up.
    expect(rig.bus.unplugRequest(dev)).to.equal(0);
    await front.close();
    await rig.settle();
    await rig.bus.settled();
    expect(rig.machine.hasDevice('qdisk-51712')).to.equal(false);
    expect(rig.machine.hasObject('xvda')).to.equal(false);
    expect(rig.layer.graph.node('xvda')).to.equal(undefined);
    expect(rig.xen.store.read(BE)).to.be.a('number');
  });

  it('mode r gives a read-only disk; bad areas are refused with a reason and create nothing', async () => {
    const image = path.join(dir, 'ro.img');
    fs.writeFileSync(image, pattern(MiB, 72));
    toolstackAdd(rig.xen.store, { dev: 'xvda', 'device-type': 'disk', params: image, mode: 'r' });
    await rig.settle();
    await rig.bus.settled();
    await rig.settle();
    const dev = rig.machine.device<XenBlockDevice>('qdisk-51712');
    expect(dev.readOnly).to.equal(true);
    expect(rig.xen.store.read(`${BE}/feature-discard`)).to.be.a('number');
    // Unplugged with no frontend: Closing becomes Closed at once and the bus removes it all.
    expect(rig.bus.unplugRequest(dev)).to.equal(0);
    await rig.settle();
    await rig.bus.settled();
    expect(rig.machine.hasDevice('qdisk-51712')).to.equal(false);
    expect(rig.machine.hasObject('xvda')).to.equal(false);

    for (const [keys, reason] of [
      [{ 'device-type': 'disk', params: image }, /no dev parameter/],
      [{ dev: 'xvda', params: image }, /no device-type parameter/],
      [{ dev: 'xvda', 'device-type': 'cdrom', params: image }, /invalid device-type parameter 'cdrom'/],
      [{ dev: 'xvda', 'device-type': 'disk' }, /no params/],
      [{ dev: 'xvda', 'device-type': 'disk', params: path.join(dir, 'missing.img') }, /No such file/],
      [{ dev: 'bogus', 'device-type': 'disk', params: image }, /invalid virtual disk specifier/],
    ] as const) {
      rig.xen.store.rm(BE);
      toolstackAdd(rig.xen.store, keys);
      await rig.settle();
      await rig.bus.settled();
      expect(rig.bus.lastError?.message, JSON.stringify(keys)).to.match(reason);
      expect(rig.machine.devices().filter((d) => d.type === 'xen-block')).to.deep.equal([]);
      expect(rig.machine.hasObject('xvda') || rig.machine.hasObject('bogus')).to.equal(false);
    }
  });
});
