import { Errno } from '@vmkit/core';
/** Size of a Xen page (XC_PAGE_SIZE / XEN_PAGE_SIZE): grants, rings and frames are in these units. */
export const XEN_PAGE_SIZE = 4096;
/** log2(XEN_PAGE_SIZE): frame number = guest-physical address >> XEN_PAGE_SHIFT. */
export const XEN_PAGE_SHIFT = 12;

/** First reserved domain id (DOMID_FIRST_RESERVED); frontend ids must be below it. */
export const DOMID_FIRST_RESERVED = 0x7ff0;

/** xenbus_state from xen/io/xenbus.h: the values written to the `state` keys. */
export const XenbusState = {
  Unknown: 0,
  Initialising: 1,
  /** Backend: waiting for the frontend's details (ring refs, event channel). */
  InitWait: 2,
  /** Frontend: details published, waiting for the backend to connect. */
  Initialised: 3,
  Connected: 4,
  /** The other end is asked to shut the device down. */
  Closing: 5,
  Closed: 6,
  Reconfiguring: 7,
  Reconfigured: 8,
} as const;

export type XenbusStateName = keyof typeof XenbusState;
export type XenbusStateValue = (typeof XenbusState)[XenbusStateName];

const stateNames: readonly XenbusStateName[] = [
  'Unknown',
  'Initialising',
  'InitWait',
  'Initialised',
  'Connected',
  'Closing',
  'Closed',
  'Reconfiguring',
  'Reconfigured',
];

/** The state's name (xs_strstate); `Invalid(<n>)` for a value outside the enum. */
export function xenbusStateName(state: number): string {
  return stateNames[state] ?? `Invalid(${state})`;
}

/** Parses a xenstore `state` value; undefined when it is not one of the XenbusState numbers. */
export function parseXenbusState(value: string | number): XenbusStateValue | undefined {
  if (typeof value === 'number') return undefined;
  if (!/^[0-9]+$/.test(value)) return undefined;
  const n = Number(value);
  return n < stateNames.length ? (n as XenbusStateValue) : undefined;
}

/**
 * Grant-table operation status (GNTST_* in xen/grant_table.h). Grant copy reports one per
 * segment; 0 is success, every other value a refusal.
 */
export const GntStatus = {
  okay: 0,
  generalError: -1,
  badDomain: -2,
  badGntref: -3,
  badHandle: -4,
  badVirtAddr: -5,
  badDevAddr: -6,
  noDeviceSpace: -7,
  permissionDenied: -8,
  badPage: -9,
  badCopyArg: -10,
  addressTooBig: -11,
  eagain: -12,
} as const;

export type GntStatusName = keyof typeof GntStatus;
export type GntStatusValue = (typeof GntStatus)[GntStatusName];

const gntMessages: Readonly<Record<number, string>> = {
  0: 'okay',
  [-1]: 'undefined error',
  [-2]: 'unrecognised domain id',
  [-3]: 'invalid grant reference',
  [-4]: 'invalid mapping handle',
  [-5]: 'invalid virtual address',
  [-6]: 'invalid device address',
  [-7]: 'no spare translation slot in the I/O MMU',
  [-8]: 'permission denied',
  [-9]: 'bad page',
  [-10]: 'copy arguments cross page boundary',
  [-11]: 'page address size too large',
  [-12]: 'operation not done; try again',
};

/** The hypervisor's message for a GNTST_* status (GNTTABOP_error_msgs). */
export function gntStatusMessage(status: number): string {
  return gntMessages[status] ?? `unknown grant status ${status}`;
}

/** ESRCH ("No such process"): Xen's answer for an unknown domain id. */
export const ESRCH = Errno.ESRCH;
