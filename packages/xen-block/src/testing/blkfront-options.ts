/** Options, results and request shapes of the test Blkfront. */
import type { BlkifProtocol } from '../ring/index.js';
import type { FrontRequest } from './front-ring.js';

export interface BlkfrontOptions {
  /** The device number under `device/vbd/` (default 51712, xvda). */
  readonly devid?: number | string;
  /** The frontend area; default `/local/domain/<domid>/device/vbd/<devid>`. */
  readonly path?: string;
  /** The ring layout this driver writes (default native). */
  readonly protocol?: BlkifProtocol;
  /** The `protocol` value published: default absent for native, else the protocol's name. */
  readonly protocolKey?: string | null;
  /** Ring page order wanted (default 0); capped by the backend's max-ring-page-order unless forced. */
  readonly ringPageOrder?: number;
  readonly forceRingPageOrder?: boolean;
  /** The shared ring's start index (default 0; a backend must attach to follow another value). */
  readonly ringStart?: number;
  /** Guest frames this driver may use (default: frame 16 to the end of the first region). */
  readonly frames?: { readonly first: number; readonly count: number };
  /** The requests' `handle` (default: the devid's number). */
  readonly handle?: number;
  /** First automatic request id (default 0xfeed_0000_0000_0001n: above 2^53 on purpose). */
  readonly idBase?: bigint;
  /** More keys to publish with the ring details (e.g. `feature-persistent`). */
  readonly extraKeys?: Readonly<Record<string, string>>;
}

/** What the backend published, read when it is Connected (blkfront_connect). */
export interface BlkfrontInfo {
  /** `sectors`, in 512-byte units. */
  readonly sectors: number;
  readonly sectorSize: number;
  /** `info` (VDISK_* bits). */
  readonly info: number;
  readonly readOnly: boolean;
  readonly featureFlushCache: boolean;
  readonly featureDiscard: boolean;
  readonly discardGranularity: number | undefined;
  readonly discardAlignment: number | undefined;
  readonly discardSecure: boolean;
  /** The backend's `max-ring-page-order` (0 when absent). */
  readonly maxRingPageOrder: number;
  readonly ringPageOrder: number;
  readonly ringSize: number;
  readonly protocol: BlkifProtocol;
}

/** A raw request: any operation and segments; `id` defaults to the next automatic one. */
export type BlkfrontRequest = Omit<FrontRequest, 'id'> & { readonly id?: bigint };

export interface SubmitOptions {
  /** Publish req_prod (and notify if asked) now; default true. With false, call publish() later. */
  readonly publish?: boolean;
}

/** A xenstore number as Linux reads it (leading digits), undefined when there are none. */
export function decimal(v: string | undefined): number | undefined {
  const m = v === undefined ? null : /^\s*([0-9]+)/.exec(v);
  return m === null ? undefined : Number(m[1]);
}
