/**
 * The virtio-blk property schema (QEMU virtio_blk_properties) and the checks realize runs across
 * properties (virtio_blk_device_realize, blkconf_blocksizes), with QEMU's error texts.
 */
import { ConfigError, type PropertyValues } from '@vmkit/core';
import { BDRV_REQUEST_MAX_SECTORS } from './constants.js';

const ON_ERROR = ['auto', 'report', 'ignore', 'stop', 'enospc'] as const;
/** werror/rerror as given to the device: `auto` keeps the BlockBackend's policy. */
export type VirtioBlkOnError = (typeof ON_ERROR)[number];

/** Property schema of the `virtio-blk` device type. */
export const virtioBlkProperties = {
  drive: { kind: 'link', target: 'blockdev', required: true, description: 'block node or backend' },
  iothread: { kind: 'link', target: 'iothread', description: 'run the dataplane in this IOThread' },
  serial: { kind: 'string', description: 'answer to GET_ID (at most 20 bytes are sent)' },
  'queue-size': { kind: 'int', powerOfTwo: true, min: 4, max: 1024, default: 256 },
  'num-queues': { kind: 'int', min: 1, max: 1, default: 1 },
  'logical-block-size': { kind: 'size', powerOfTwo: true, min: 512, max: 2 * 1024 * 1024, default: 512 },
  'physical-block-size': { kind: 'size', powerOfTwo: true, min: 512, max: 2 * 1024 * 1024, default: 512 },
  discard: { kind: 'bool', default: true },
  'write-zeroes': { kind: 'bool', default: true },
  'max-discard-sectors': { kind: 'int', min: 0, max: 0xffff_ffff, default: BDRV_REQUEST_MAX_SECTORS },
  'max-write-zeroes-sectors': { kind: 'int', min: 0, max: 0xffff_ffff, default: BDRV_REQUEST_MAX_SECTORS },
  'request-merging': { kind: 'bool', default: true },
  'config-wce': { kind: 'bool', default: true },
  werror: { kind: 'enum', values: ON_ERROR, default: 'auto' },
  rerror: { kind: 'enum', values: ON_ERROR, default: 'auto' },
  readonly: { kind: 'bool', description: 'default: read-only if the drive is' },
} as const;

export type VirtioBlkProperties = PropertyValues<typeof virtioBlkProperties>;

/** The device configuration once the properties passed realize's checks (VirtIOBlkConf). */
export interface VirtioBlkConf {
  readonly drive: string;
  readonly iothread: string | undefined;
  readonly serial: string | undefined;
  readonly queueSize: number;
  readonly numQueues: number;
  readonly logicalBlockSize: number;
  readonly physicalBlockSize: number;
  readonly discard: boolean;
  readonly writeZeroes: boolean;
  readonly maxDiscardSectors: number;
  readonly maxWriteZeroesSectors: number;
  readonly requestMerging: boolean;
  readonly configWce: boolean;
  readonly werror: VirtioBlkOnError;
  readonly rerror: VirtioBlkOnError;
  /** undefined: follow the drive. */
  readonly readonly: boolean | undefined;
}

/**
 * Checks that involve several properties, in QEMU's order, and returns the configuration.
 * `owner` prefixes the messages (`virtio-blk 'vda'`); the rest is QEMU's text.
 */
export function resolveConf(owner: string, props: VirtioBlkProperties): VirtioBlkConf {
  const conf: VirtioBlkConf = {
    drive: props.drive,
    iothread: props.iothread,
    serial: props.serial,
    queueSize: props['queue-size'],
    numQueues: props['num-queues'],
    logicalBlockSize: props['logical-block-size'],
    physicalBlockSize: props['physical-block-size'],
    discard: props.discard,
    writeZeroes: props['write-zeroes'],
    maxDiscardSectors: props['max-discard-sectors'],
    maxWriteZeroesSectors: props['max-write-zeroes-sectors'],
    requestMerging: props['request-merging'],
    configWce: props['config-wce'],
    werror: props.werror,
    rerror: props.rerror,
    readonly: props.readonly,
  };
  if (conf.logicalBlockSize > conf.physicalBlockSize) {
    throw new ConfigError(`${owner}: logical_block_size > physical_block_size not supported`);
  }
  if (conf.discard && (conf.maxDiscardSectors === 0 || conf.maxDiscardSectors > BDRV_REQUEST_MAX_SECTORS)) {
    throw new ConfigError(
      `${owner}: invalid max-discard-sectors property (${conf.maxDiscardSectors}), must be between 1 and ${BDRV_REQUEST_MAX_SECTORS}`,
    );
  }
  if (
    conf.writeZeroes &&
    (conf.maxWriteZeroesSectors === 0 || conf.maxWriteZeroesSectors > BDRV_REQUEST_MAX_SECTORS)
  ) {
    throw new ConfigError(
      `${owner}: invalid max-write-zeroes-sectors property (${conf.maxWriteZeroesSectors}), must be between 1 and ${BDRV_REQUEST_MAX_SECTORS}`,
    );
  }
  return conf;
}
