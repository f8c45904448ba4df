import type { XenGuestDomain } from '@vmkit/xen-bus';
import { BLKIF_PAGE_SIZE, BlkifStatus } from '../ring/index.js';
import type { GuestFrameAllocator } from './frame-allocator.js';
import type { BlkifResponse } from './front-ring.js';

/** A guest page granted to the backend for one request's data. */
export interface DataPage {
  readonly frame: number;
  readonly gpa: number;
  readonly gref: number;
  /** Granted read-only (the backend may only copy from it). */
  readonly readonly: boolean;
}

/** A non-OKAY response to a read/write/flush/discard. */
export class BlkfrontIoError extends Error {
  readonly status: number;
  constructor(readonly response: BlkifResponse) {
    const name = response.status === BlkifStatus.ERROR ? 'BLKIF_RSP_ERROR' : `status ${response.status}`;
    super(`blkfront: request ${response.id} (op ${response.operation}) failed: ${name}`);
    this.name = 'BlkfrontIoError';
    this.status = response.status;
  }
}

/** Per-request data pages: allocate a frame, grant it, and end the grant afterwards. */
export class DataPages {
  /** Pages whose grant the backend still held when freed (never reused). */
  readonly leaked: DataPage[] = [];

  constructor(
    private readonly guest: XenGuestDomain,
    private readonly frames: GuestFrameAllocator,
    private readonly backendId: () => number,
  ) {}

  alloc(readonly: boolean, contents?: Uint8Array): DataPage {
    const frame = this.frames.alloc(1);
    const gpa = frame * BLKIF_PAGE_SIZE;
    this.guest.memory.fill(gpa, BLKIF_PAGE_SIZE, 0);
    if (contents !== undefined) this.guest.memory.write(gpa, contents.subarray(0, BLKIF_PAGE_SIZE));
    const gref = this.guest.grantAccess(frame, this.backendId(), readonly);
    if (gref < 0) {
      this.frames.free(frame);
      throw new Error(`blkfront: granting a data page failed (${gref})`);
    }
    return { frame, gpa, gref, readonly };
  }

  free(page: DataPage): boolean {
    if (this.guest.revokeAccess(page.gref) < 0) {
      this.leaked.push(page);
      return false;
    }
    this.frames.free(page.frame);
    return true;
  }

  read(page: DataPage): Uint8Array {
    const out = new Uint8Array(BLKIF_PAGE_SIZE);
    this.guest.memory.read(page.gpa, out);
    return out;
  }
}
