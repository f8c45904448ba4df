import { XenDeviceError } from './xen-device-error.js';

/** The `protocol` key of a frontend (XEN_IO_PROTO_ABI_*); `native` when absent or unknown. */
export type XenProtocol = 'native' | 'x86_32-abi' | 'x86_64-abi';

/**
 * A xenstore value read as scanf("%u") would: leading blanks, then decimal digits (trailing text
 * ignored). Undefined when there is no number or it does not fit in 32 bits.
 */
export function parseXenUint(value: string | number | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\s*([0-9]+)/.exec(value);
  if (m === null) return undefined;
  const n = Number(m[1]);
  return n <= 0xffffffff ? n : undefined;
}

/** Reads one key of the frontend area; undefined when missing or unreadable. */
export type KeyReader = (key: string) => string | undefined;

/**
 * The ring's grant refs as xen-block reads them: `ring-ref` alone without `ring-page-order`,
 * else `ring-ref0` .. `ring-ref<2^order - 1>` when the order is at most `maxOrder`.
 * Throws XenDeviceError naming the missing key or the bad order.
 */
export function readRingRefs(read: KeyReader, maxOrder: number): number[] {
  const order = parseXenUint(read('ring-page-order'));
  if (order === undefined) {
    const ref = parseXenUint(read('ring-ref'));
    if (ref === undefined) throw new XenDeviceError('failed to read ring-ref');
    return [ref];
  }
  if (order > maxOrder) throw new XenDeviceError(`invalid ring-page-order (${order})`);
  const refs: number[] = [];
  for (let i = 0; i < 2 ** order; i++) {
    const ref = parseXenUint(read(`ring-ref${i}`));
    if (ref === undefined) throw new XenDeviceError(`failed to read ring-ref${i}`);
    refs.push(ref);
  }
  return refs;
}

/** The frontend's event channel port; throws XenDeviceError when missing. */
export function readEventChannel(read: KeyReader): number {
  const port = parseXenUint(read('event-channel'));
  if (port === undefined) throw new XenDeviceError('failed to read event-channel');
  return port;
}

/** The frontend's ring ABI; `native` when absent or not one of the known names. */
export function readProtocol(read: KeyReader): XenProtocol {
  const p = read('protocol');
  return p === 'x86_32-abi' || p === 'x86_64-abi' ? p : 'native';
}
