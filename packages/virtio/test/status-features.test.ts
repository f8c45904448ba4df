import { expect } from 'chai';
import {
  VIRTIO_COMMON_FEATURES,
  VirtioFeature,
  VirtioMmioRegister as R,
  VirtioStatus,
  featureBit,
  featureBits,
} from '../src/index.js';
import { EchoDevice, VIRTIO_ECHO_F_INVERT } from '../src/testing/index.js';
import { makeRig } from './helpers/rig.js';

const { ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK, NEEDS_RESET, FAILED } = VirtioStatus;
const VERSION_1 = featureBit(VirtioFeature.VERSION_1);

/** Echo device that refuses INVERT without EVENT_IDX (a device-specific dependency rule). */
class PickyEcho extends EchoDevice {
  protected override validateFeatures(features: bigint): boolean {
    const invert = (features & featureBit(VIRTIO_ECHO_F_INVERT)) !== 0n;
    return !invert || (features & featureBit(VirtioFeature.RING_EVENT_IDX)) !== 0n;
  }
}

describe('virtio status and feature negotiation', () => {
  it('offers the device features plus VERSION_1 on a modern transport, as 64 bits in two words', () => {
    const { driver, device } = makeRig();
    const offered = driver.readDeviceFeatures();
    expect(offered).to.equal(VIRTIO_COMMON_FEATURES | featureBit(VIRTIO_ECHO_F_INVERT) | VERSION_1);
    expect(device.hostFeatures).to.equal(offered);
    expect(driver.read(R.DEVICE_FEATURES)).to.equal(Number(offered & 0xffffffffn));
  });

  it('walks ACKNOWLEDGE, DRIVER, FEATURES_OK, DRIVER_OK and keeps each bit', () => {
    const { driver, device } = makeRig();
    driver.status = ACKNOWLEDGE;
    expect(driver.status).to.equal(ACKNOWLEDGE);
    driver.status = ACKNOWLEDGE | DRIVER;
    expect(driver.status).to.equal(ACKNOWLEDGE | DRIVER);
    const want = VERSION_1 | featureBit(VirtioFeature.RING_EVENT_IDX);
    driver.writeDriverFeatures(want);
    expect(device.guestFeatures, 'staged until FEATURES_OK').to.equal(0n);
    driver.status = ACKNOWLEDGE | DRIVER | FEATURES_OK;
    expect(driver.status).to.equal(ACKNOWLEDGE | DRIVER | FEATURES_OK);
    expect(device.guestFeatures).to.equal(want);
    expect(device.hasFeature(VirtioFeature.RING_EVENT_IDX)).to.equal(true);
    expect(device.hasFeature(VirtioFeature.RING_INDIRECT_DESC)).to.equal(false);
    driver.status = ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK;
    expect(device.status).to.equal(ACKNOWLEDGE | DRIVER | FEATURES_OK | DRIVER_OK);
  });

  it('refuses FEATURES_OK (the bit does not stick) when the driver accepts a feature not offered', () => {
    const { driver, device } = makeRig({ device: new EchoDevice({ features: VIRTIO_COMMON_FEATURES }) });
    const result = driver.negotiate((offered) => offered | featureBit(VIRTIO_ECHO_F_INVERT));
    expect(result.ok).to.equal(false);
    expect(driver.status & FEATURES_OK).to.equal(0);
    expect(driver.status).to.equal(ACKNOWLEDGE | DRIVER);
    expect(device.guestFeatures).to.equal(0n);
  });

  it('refuses FEATURES_OK for a feature bit above 32 that was not offered', () => {
    const { driver } = makeRig();
    const result = driver.negotiate((offered) => offered | featureBit(VirtioFeature.RING_PACKED));
    expect(result.ok).to.equal(false);
  });

  it('refuses FEATURES_OK on a modern transport when VERSION_1 is not accepted', () => {
    const { driver } = makeRig();
    expect(driver.negotiate((offered) => offered & ~VERSION_1).ok).to.equal(false);
    expect(driver.negotiate().ok).to.equal(true);
  });

  it('refuses FEATURES_OK when the device-specific validation fails, accepts a valid subset', () => {
    const { driver, device } = makeRig({ device: new PickyEcho() });
    const invertOnly = VERSION_1 | featureBit(VIRTIO_ECHO_F_INVERT);
    expect(driver.negotiate(invertOnly).ok).to.equal(false);
    const withIdx = invertOnly | featureBit(VirtioFeature.RING_EVENT_IDX);
    expect(driver.negotiate(withIdx).ok).to.equal(true);
    expect(device.guestFeatures).to.equal(withIdx);
  });

  it('a refused FEATURES_OK can be retried with a valid subset without a reset', () => {
    const { driver, device } = makeRig();
    driver.status = ACKNOWLEDGE | DRIVER;
    driver.writeDriverFeatures(VERSION_1 | featureBit(VirtioFeature.RING_PACKED));
    driver.status = ACKNOWLEDGE | DRIVER | FEATURES_OK;
    expect(driver.status & FEATURES_OK).to.equal(0);
    driver.writeDriverFeatures(VERSION_1);
    driver.status = ACKNOWLEDGE | DRIVER | FEATURES_OK;
    expect(driver.status & FEATURES_OK).to.equal(FEATURES_OK);
    expect(device.guestFeatures).to.equal(VERSION_1);
  });

  it('ignores driver feature writes after FEATURES_OK', () => {
    const { driver, device } = makeRig();
    expect(driver.negotiate(VERSION_1).ok).to.equal(true);
    driver.writeDriverFeatures(VERSION_1 | featureBit(VirtioFeature.RING_EVENT_IDX));
    driver.status = driver.status | DRIVER_OK;
    expect(device.guestFeatures).to.equal(VERSION_1);
  });

  it('NEEDS_RESET belongs to the device: a driver write cannot set it', () => {
    const { driver } = makeRig();
    driver.status = ACKNOWLEDGE | NEEDS_RESET;
    expect(driver.status).to.equal(ACKNOWLEDGE);
  });

  it('FAILED is stored; writing 0 resets status and negotiated features', () => {
    const { driver, device } = makeRig();
    driver.negotiate();
    driver.status = driver.status | FAILED;
    expect(driver.status & FAILED).to.equal(FAILED);
    driver.status = 0;
    expect(driver.status).to.equal(0);
    expect(device.guestFeatures).to.equal(0n);
    expect(device.driverFeatures).to.equal(0n);
  });

  it('legacy: no VERSION_1 offered, features apply on write and unoffered bits are dropped', () => {
    const { driver, device } = makeRig({ legacy: true });
    const offered = driver.readDeviceFeatures();
    expect(offered & VERSION_1).to.equal(0n);
    driver.status = ACKNOWLEDGE | DRIVER;
    const want = featureBits(VirtioFeature.RING_EVENT_IDX, VirtioFeature.RING_PACKED);
    driver.writeDriverFeatures(want);
    expect(device.guestFeatures).to.equal(featureBit(VirtioFeature.RING_EVENT_IDX));
  });

  it('feature helpers: featureBit range check and featureBits', () => {
    expect(featureBit(63)).to.equal(1n << 63n);
    expect(() => featureBit(64)).to.throw(RangeError);
    expect(featureBits(0, 1, 32)).to.equal(0x1_0000_0003n);
  });
});
