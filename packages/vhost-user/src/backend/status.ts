/** What a vhost-user back-end reports about its connection, and its one-line form. */

export interface VhostUserRingStatus {
  readonly index: number;
  /** SET_VRING_NUM (0 before). */
  readonly size: number;
  /** Has a kick descriptor, no GET_VRING_BASE since. */
  readonly started: boolean;
  readonly enabled: boolean;
  /** Started, enabled and mapped: kicks are being handled. */
  readonly active: boolean;
  /** The next avail index the device will take. */
  readonly lastAvailIdx: number;
  readonly kicks: number;
  readonly calls: number;
}

export interface VhostUserBackendStatus {
  readonly open: boolean;
  /** SET_OWNER received. */
  readonly owner: boolean;
  /** Messages handled. */
  readonly messages: number;
  /** The device's virtio status byte. */
  readonly deviceStatus: number;
  /** Negotiated virtio features. */
  readonly features: bigint;
  /** Negotiated protocol features. */
  readonly protocolFeatures: bigint;
  readonly memoryRegions: number;
  /** Bytes of guest RAM mapped. */
  readonly memorySize: number;
  readonly rings: readonly VhostUserRingStatus[];
}

function formatSize(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`;
}

/** E.g. `features 0x130000000, rings 1/1 running, memory 2 regions 4.0 MiB, 3 kicks, 3 calls`. */
export function describeStatus(s: VhostUserBackendStatus): string {
  const running = s.rings.filter((r) => r.active).length;
  const kicks = s.rings.reduce((n, r) => n + r.kicks, 0);
  const calls = s.rings.reduce((n, r) => n + r.calls, 0);
  return (
    `features 0x${s.features.toString(16)}, rings ${running}/${s.rings.length} running, ` +
    `memory ${s.memoryRegions} region${s.memoryRegions === 1 ? '' : 's'} ${formatSize(s.memorySize)}, ` +
    `${kicks} kick${kicks === 1 ? '' : 's'}, ${calls} call${calls === 1 ? '' : 's'}`
  );
}
