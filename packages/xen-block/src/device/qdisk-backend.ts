/**
 * The `qdisk` backend type (QEMU xen_block_device_create / xen_block_device_destroy): when a
 * toolstack writes `backend/qdisk/<frontend-id>/<devid>` with `online` = 1 and `state` =
 * Initialising, the xen-bus creates the drive, an IOThread and the xen-block device from its
 * keys, and removes all three when the device goes offline and closed.
 *
 * Keys read: `dev` (the vdev, required), `device-type` (`disk`; `cdrom` is not supported),
 * `params` (`[<format>:]<filename>`, `aio:` meaning raw), `mode` (`w`, anything else is
 * read-only), `discard-enable` (a binary number; non-zero opens the drive with discard=unmap).
 */
import { ConfigError } from '@vmkit/core';
import type { XenBackendType, XenBus, XenDevice } from '@vmkit/xen-bus';
import { XenBlockDevice } from './xen-block-device.js';

/** The driver a `params` prefix names (xen_block_drive_create). */
function formatOf(prefix: string): string {
  if (prefix === 'aio') return 'raw';
  if (prefix === 'vhd') return 'vpc';
  return prefix;
}

/** `discard-enable` as qemu_strtoul(base 2) reads it: a whole binary number that is not 0. */
function binaryFlag(value: string | undefined): boolean {
  const m = value === undefined ? null : /^\s*[+-]?([01]+)$/.exec(value);
  return m !== null && m[1].includes('1');
}

async function createDevice(
  bus: XenBus,
  devid: string,
  options: Readonly<Record<string, string>>,
): Promise<void> {
  if (!/^[0-9]+$/.test(devid)) throw new ConfigError(`failed to parse name '${devid}'`);
  const vdev = options['dev'];
  if (vdev === undefined) throw new ConfigError('no dev parameter');
  const deviceType = options['device-type'];
  if (deviceType === undefined) throw new ConfigError('no device-type parameter');
  if (deviceType !== 'disk') throw new ConfigError(`invalid device-type parameter '${deviceType}'`);
  const params = options['params'];
  if (params === undefined) throw new ConfigError('failed to create drive: no params');

  const colon = params.indexOf(':');
  const driver = colon < 0 ? 'raw' : formatOf(params.slice(0, colon));
  const filename = colon < 0 ? params : params.slice(colon + 1);
  const mode = options['mode'];
  const readOnly = mode !== undefined && !mode.startsWith('w');
  const discard = binaryFlag(options['discard-enable']) ? 'unmap' : undefined;

  const machine = bus.machine;
  const created: { node?: string; iothread?: string } = {};
  try {
    await machine.blockdevAdd({
      driver,
      nodeName: vdev,
      readOnly: readOnly || undefined,
      discard,
      file: { driver: 'file', filename, locking: 'off', readOnly: readOnly || undefined, discard },
    });
    created.node = vdev;
    machine.objectAdd({ type: 'iothread', id: vdev });
    created.iothread = vdev;
    const device = await machine.deviceAdd<XenBlockDevice>({
      type: 'xen-block',
      id: `qdisk-${devid}`,
      bus: bus.name,
      vdev,
      drive: vdev,
      iothread: vdev,
    });
    device.owned = { iothread: vdev, nodes: [vdev] };
  } catch (e) {
    if (created.iothread !== undefined) machine.objectDel(created.iothread);
    if (created.node !== undefined) await machine.blockdevDel(created.node);
    throw e;
  }
}

async function destroyDevice(bus: XenBus, device: XenDevice): Promise<void> {
  const machine = bus.machine;
  const owned = device instanceof XenBlockDevice ? device.owned : undefined;
  if (machine.hasDevice(device.id)) await machine.deviceDel(device.id);
  for (const node of owned?.nodes ?? []) await machine.blockdevDel(node);
  if (owned?.iothread !== undefined && machine.hasObject(owned.iothread)) machine.objectDel(owned.iothread);
}

/** Contributed by xenBlockPlugin. */
export const qdiskBackendType: XenBackendType = {
  name: 'qdisk',
  create: createDevice,
  destroy: destroyDevice,
};
