/**
 * The config `vmkit run` uses when none is given: a 256 MiB raw image cut into two regions, a
 * virtio-blk disk on an IOThread over the first and a xen-block disk (its guest speaking the
 * x86_64 ring ABI) over the second, both in one throttle group, and a 10-second randrw job with
 * crc32c verification on each.
 */

/** Size of the temporary image. */
export const DEFAULT_IMAGE_SIZE = 256 * 1024 * 1024;

/** The default config as a JSON document, over the image at `imagePath`. */
export function defaultConfig(imagePath: string): Record<string, unknown> {
  const half = DEFAULT_IMAGE_SIZE / 2;
  return {
    objects: [
      { 'qom-type': 'iothread', id: 'io0' },
      { 'qom-type': 'throttle-group', id: 'tg0', 'x-iops-total': 2000, 'x-bps-total': 16 * 1024 * 1024 },
    ],
    blockdevs: [
      // One file node per region: with a single one, QEMU's permission rules need share-rw=on on
      // both devices (each raw window refuses to share WRITE), which virtio-blk does not offer yet.
      { driver: 'file', 'node-name': 'image0', filename: imagePath, locking: 'off' },
      { driver: 'file', 'node-name': 'image1', filename: imagePath, locking: 'off' },
      { driver: 'raw', 'node-name': 'disk0', file: 'image0', offset: 0, size: half },
      { driver: 'raw', 'node-name': 'disk1', file: 'image1', offset: half, size: half },
    ],
    devices: [
      { driver: 'virtio-blk', id: 'vda', drive: 'disk0', iothread: 'io0', 'throttle-group': 'tg0' },
      { driver: 'xen-block', id: 'xvda', vdev: 'xvda', drive: 'disk1', 'throttle-group': 'tg0' },
    ],
    workload: {
      rw: 'randrw',
      rwmixread: 70,
      bs: '4k',
      iodepth: 16,
      size: '8M',
      runtime: 10,
      verify: 'crc32c',
      jobs: [{ device: 'vda' }, { device: 'xvda', protocol: 'x86_64-abi' }],
    },
  };
}
