import { expect } from 'chai';
import { XenbusState } from '@vmkit/xen-bus';
import { MiB, newRig, pattern } from './helpers/rig.js';

describe('xen-block smoke', () => {
  it('connects and does I/O', async () => {
    const rig = await newRig();
    await rig.addDisk('disk0', MiB, pattern(MiB, 3));
    const dev = await rig.addDevice({ drive: 'disk0' });
    const front = rig.frontend();
    const info = await front.connect();
    expect(dev.backendState).to.equal(XenbusState.Connected);
    expect(info.sectors).to.equal(2048);
    const got = await front.read(8, 16);
    expect(Buffer.from(got).equals(Buffer.from(pattern(MiB, 3).subarray(4096, 4096 + 8192)))).to.equal(true);
    await front.write(100, pattern(88 * 512, 9));
    const back = await rig.readDisk('disk0', 100 * 512, 88 * 512);
    expect(Buffer.from(back).equals(Buffer.from(pattern(88 * 512, 9)))).to.equal(true);
    await front.flush();
    await front.discard(0, 128);
    await front.close();
    expect(dev.backendState).to.equal(XenbusState.Closed);
    await rig.destroy();
  });
});
