import type { PropertySchema } from '@vmkit/core';
import { xenDeviceProperties } from '@vmkit/xen-bus';
import { BLKIF_MAX_RING_PAGE_ORDER } from '../ring/index.js';
import { checkVdev } from './vdev.js';

/** Properties of the `xen-block` device (QEMU xen_block_props plus the drive's BlockConf). */
export const xenBlockProperties = {
  ...xenDeviceProperties,
  vdev: {
    kind: 'string',
    required: true,
    check: checkVdev,
    description: 'the guest disk name: xvd*, hd*, sd* or d*p* (sets the VBD number)',
  },
  drive: { kind: 'link', target: 'blockdev', required: true, description: 'the block node or backend' },
  iothread: { kind: 'link', target: 'iothread', description: 'serve the ring in this IOThread' },
  'max-ring-page-order': {
    kind: 'int',
    min: 0,
    max: BLKIF_MAX_RING_PAGE_ORDER,
    default: BLKIF_MAX_RING_PAGE_ORDER,
    description: 'largest ring the frontend may use: 2^order pages',
  },
  'discard-enable': {
    kind: 'bool',
    description: "advertise feature-discard (default: when the node was opened with discard 'unmap')",
  },
  readonly: { kind: 'bool', default: false, description: 'a read-only disk (info VDISK_READONLY)' },
  'logical-block-size': {
    kind: 'size',
    min: 512,
    max: 32768,
    powerOfTwo: true,
    default: 512,
    description: '`sector-size`; frontends must offer feature-large-sector-size for more than 512',
  },
  'share-rw': { kind: 'bool', default: false, description: 'let other users write the drive too' },
} as const satisfies PropertySchema;
