import { expect } from 'chai';
import { ConfigError } from '@vmkit/core';
import { parseXenBlockVdev, VDEV_RULE } from '../src/index.js';
import { MiB, newRig } from './helpers/rig.js';

/** Numbers computed by hand from QEMU's xen_block_set_vdev rules. */
const VALID: readonly [string, number][] = [
  ['xvda', 51712], // 202 << 8
  ['xvdb', 51728],
  ['xvda1', 51713],
  ['xvdp15', (202 << 8) | (15 << 4) | 15],
  ['xvdq', (1 << 28) | (16 << 8)], // disk 16: extended form
  ['xvda16', (1 << 28) | 16], // partition 16: extended form
  ['xvdaa', (1 << 28) | (26 << 8)], // bijective base 26: aa = 26
  ['xvdzz255', (1 << 28) | (701 << 8) | 255],
  ['d0', 51712],
  ['d0p1', 51713],
  ['d1p2', 51730],
  ['d16p0', (1 << 28) | (16 << 8)],
  ['d1048575p255', (1 << 28) | (1048575 << 8) | 255],
  ['hda', 3 << 8],
  ['hdb5', (3 << 8) | (1 << 6) | 5],
  ['hdc', 22 << 8],
  ['hdd63', (22 << 8) | (1 << 6) | 63],
  ['sda', 8 << 8],
  ['sdp15', (8 << 8) | (15 << 4) | 15],
  // strtoul quirks QEMU accepts: a sign, leading blanks.
  ['d+1', 51728],
  ['xvda 1', 51713],
];

const INVALID: readonly string[] = [
  '',
  'xvd', // no letters
  'vda',
  'xda',
  'xvdA',
  'd', // no number
  'dp1',
  'd0p', // partition missing after p
  'd0q1',
  'd1048576', // disk too large
  'd0p256', // partition too large for the extended form
  'hde', // only hda..hdd
  'hda64',
  'sdq', // only sda..sdp
  'sda16',
  'xvda1x',
  'd-1',
  'xvda-1',
  'nvme0n1',
];

describe('xen-block: vdev parsing (QEMU xen_block_set_vdev)', () => {
  for (const [name, number] of VALID) {
    it(`'${name}' is VBD ${number}`, () => {
      expect(parseXenBlockVdev(name)?.number).to.equal(number);
    });
  }

  it('every invalid name is refused', () => {
    for (const name of INVALID) expect(parseXenBlockVdev(name), name).to.equal(undefined);
  });

  it('d-0 is disk 0 (strtoul wraps -0 to 0), as QEMU reads it', () => {
    expect(parseXenBlockVdev('d-0')?.number).to.equal(51712);
  });

  it('deviceAdd refuses an invalid vdev with the property, the value and the rule', async () => {
    const rig = await newRig({ pages: 64 });
    await rig.addDisk('disk0', MiB);
    let err: unknown;
    try {
      await rig.addDevice({ drive: 'disk0', vdev: 'hde' });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as Error).message).to.equal(`xen-block 'xvda': property 'vdev' = 'hde': ${VDEV_RULE}`);
    expect(rig.machine.hasDevice('xvda')).to.equal(false);
    // The VBD number names the device in xenstore.
    const dev = await rig.addDevice({ drive: 'disk0', vdev: 'xvdb3' });
    expect(dev.backendPath).to.equal('/local/domain/0/backend/qdisk/1/51731');
    expect(dev.frontendPath).to.equal('/local/domain/1/device/vbd/51731');
    await rig.destroy();
  });
});
