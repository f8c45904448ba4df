/**
 * SET_FEATURES mapped onto the virtio status sequence. vhost-user has no status register: the
 * features written are the driver's, accepted with ACKNOWLEDGE, DRIVER and FEATURES_OK (the first
 * running ring supplies DRIVER_OK, see ring-control.ts).
 */
import { VirtioFeature, VirtioStatus, featureBit, type VirtioDevice } from '@vmkit/virtio';
import { VHOST_USER_F_PROTOCOL_FEATURES } from '../protocol/constants.js';
import { VhostUserProtocolError } from '../protocol/protocol-error.js';

export const PROTOCOL_FEATURES_BIT = featureBit(VHOST_USER_F_PROTOCOL_FEATURES);
const VERSION_1 = featureBit(VirtioFeature.VERSION_1);
const DRIVER_STATUS = VirtioStatus.ACKNOWLEDGE | VirtioStatus.DRIVER;

function hex(v: bigint): string {
  return `0x${v.toString(16)}`;
}

/**
 * Applies SET_FEATURES `value` to `device`; returns whether VHOST_USER_F_PROTOCOL_FEATURES was
 * acked. `startedRing` is the index of a started ring, if any: features cannot change under it.
 * The same features again (a VM stop/cont) keep the device as it is; different ones (the guest
 * reset the device and negotiated again, as Linux does after SeaBIOS) start from a reset.
 */
export function negotiateFeatures(
  device: VirtioDevice,
  value: bigint,
  startedRing: number | undefined,
): boolean {
  const extra = value & ~(device.hostFeatures | PROTOCOL_FEATURES_BIT);
  if (extra !== 0n) throw new VhostUserProtocolError(`features ${hex(extra)} were not offered`);
  const features = value & ~PROTOCOL_FEATURES_BIT;
  if ((features & VERSION_1) === 0n) {
    throw new VhostUserProtocolError('VIRTIO_F_VERSION_1 not acked: legacy virtio is not supported');
  }
  if (startedRing !== undefined) {
    if (features !== device.guestFeatures) {
      throw new VhostUserProtocolError(
        `features changed from ${hex(device.guestFeatures)} to ${hex(features)} while vring ${startedRing} is started`,
      );
    }
  } else if (
    (device.status & VirtioStatus.FEATURES_OK) === 0 ||
    device.guestFeatures !== features ||
    device.broken
  ) {
    if (device.status !== 0) device.reset();
    device.setStatus(VirtioStatus.ACKNOWLEDGE);
    device.setStatus(DRIVER_STATUS);
    device.setDriverFeatureWord(0, Number(features & 0xffff_ffffn));
    device.setDriverFeatureWord(1, Number(features >> 32n));
    device.setStatus(DRIVER_STATUS | VirtioStatus.FEATURES_OK);
    if ((device.status & VirtioStatus.FEATURES_OK) === 0) {
      throw new VhostUserProtocolError(`the device refused features ${hex(features)}`);
    }
  }
  return (value & PROTOCOL_FEATURES_BIT) !== 0n;
}
