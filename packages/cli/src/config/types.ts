/**
 * A validated `vmkit run` configuration: the machine in QEMU's vocabulary (objects, blockdevs,
 * devices, in creation order) and the workload's jobs, one per driven device.
 */

/** fio's `rw` values vmkit run supports. */
export type ReadWrite = 'read' | 'write' | 'randread' | 'randwrite' | 'randrw';
export const READ_WRITE_VALUES: readonly ReadWrite[] = ['read', 'write', 'randread', 'randwrite', 'randrw'];

/** fio's `verify`: crc32c of every block written, checked when it is read back; or none. */
export type VerifyMode = 'crc32c' | 'none';
export const VERIFY_VALUES: readonly VerifyMode[] = ['crc32c', 'none'];

/** The blkif ring layout a Xen frontend uses (the `protocol` frontend key). */
export type XenProtocolName = 'native' | 'x86_32-abi' | 'x86_64-abi';
export const XEN_PROTOCOL_VALUES: readonly XenProtocolName[] = ['native', 'x86_32-abi', 'x86_64-abi'];

/** The disk devices vmkit run has guest drivers for. */
export type DiskDeviceType = 'virtio-blk' | 'xen-block';
export const DISK_DEVICE_TYPES: readonly DiskDeviceType[] = ['virtio-blk', 'xen-block'];

/** `objects[i]`: object-add arguments. */
export interface ObjectSpec {
  readonly path: string;
  readonly type: string;
  readonly id: string;
  /** Everything but `qom-type` and `id`. */
  readonly properties: Readonly<Record<string, unknown>>;
}

/** `blockdevs[i]`: blockdev-add arguments, passed to the block layer as given. */
export interface BlockdevSpec {
  readonly path: string;
  readonly nodeName: string;
  readonly driver: string;
  readonly options: Readonly<Record<string, unknown>>;
}

/** `devices[i]`: device_add arguments of a disk device. */
export interface DeviceSpec {
  readonly path: string;
  readonly type: DiskDeviceType;
  readonly id: string;
  readonly drive: string;
  /** The throttle group its BlockBackend joins (QEMU's `-drive throttling.group=`). */
  readonly throttleGroup: string | undefined;
  /** xen-block: the guest domain serving as frontend (default 1). */
  readonly frontendId: number;
  /** device_add properties other than `driver`, `id` and `throttle-group`. */
  readonly properties: Readonly<Record<string, unknown>>;
}

/** One fio-like job on one device. */
export interface JobSpec {
  readonly path: string;
  readonly device: string;
  readonly rw: ReadWrite;
  /** Percentage of reads in randrw. */
  readonly rwmixread: number;
  /** Bytes per request. */
  readonly bs: number;
  readonly iodepth: number;
  /** Start of the region within the disk. */
  readonly offset: number;
  /** Bytes of the region; undefined: to the end of the disk. */
  readonly size: number | undefined;
  /** Stop after this many bytes transferred; undefined: no byte limit. */
  readonly ioSize: number | undefined;
  /** Stop after this long (ns); undefined: no time limit. */
  readonly runtimeNs: number | undefined;
  readonly verify: VerifyMode;
  readonly randseed: number;
  /** xen-block only: the ring ABI of the guest's frontend. */
  readonly protocol: XenProtocolName;
}

export interface RunConfig {
  readonly objects: readonly ObjectSpec[];
  readonly blockdevs: readonly BlockdevSpec[];
  readonly devices: readonly DeviceSpec[];
  /** Undefined without a `workload` section: the machine runs idle until interrupted. */
  readonly jobs: readonly JobSpec[] | undefined;
}
