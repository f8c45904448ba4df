/**
 * A load generator on a connected Blkfront: keeps `depth` one-segment requests in flight until
 * `count` have completed, the way a guest with persistent grants does (one page granted per
 * queue slot for the whole run, request ids = slot numbers). It writes the ring and reaps
 * responses without allocating, so a benchmark measures the backend, not the test driver.
 */
import {
  BLKIF_PAGE_SIZE,
  BLKIF_SECTOR_SIZE,
  BLKIF_SECTORS_PER_PAGE,
  BlkifOp,
  BlkifStatus,
} from '../ring/index.js';
import type { Blkfront } from './blkfront.js';
import type { DataPage } from './data-pages.js';

export interface BlkfrontStreamOptions {
  /** Requests to complete. */
  readonly count: number;
  /** Requests in flight (at most the ring size). */
  readonly depth: number;
  /** READ (default) or WRITE. */
  readonly operation?: number;
  /** Bytes per request: a multiple of 512 up to 4096 (default 4096). */
  readonly size?: number;
  /** Disk size in 512-byte sectors: offsets advance sequentially and wrap (default: the backend's). */
  readonly sectors?: number;
}

export interface BlkfrontStreamResult {
  readonly completed: number;
  /** Responses other than OKAY. */
  readonly errors: number;
  /** Responses whose id named no request in flight. */
  readonly unexpected: number;
  readonly notificationsSent: number;
  readonly interrupts: number;
}

/** The marker in the high half of every id (to spot stray responses). */
const ID_HI = 0x5a5a0000;

export class BlkfrontStream {
  private readonly pages: DataPage[] = [];
  private readonly inFlight: Uint8Array;
  private readonly lastSect: number;
  private readonly operation: number;
  private readonly wrap: number;
  private readonly step: number;
  private submitted = 0;
  private completed = 0;
  private errors = 0;
  private unexpected = 0;
  private nextSector = 0;
  private finish: (() => void) | null = null;
  private fail: ((e: Error) => void) | null = null;

  constructor(
    readonly front: Blkfront,
    readonly options: BlkfrontStreamOptions,
  ) {
    const ring = front.ring;
    const info = front.info;
    if (ring === undefined || info === undefined)
      throw new Error('BlkfrontStream: connect the Blkfront first');
    if (options.depth < 1 || options.depth > ring.size) {
      throw new RangeError(`BlkfrontStream: depth ${options.depth} outside 1..${ring.size}`);
    }
    const size = options.size ?? BLKIF_PAGE_SIZE;
    if (size % BLKIF_SECTOR_SIZE !== 0 || size < BLKIF_SECTOR_SIZE || size > BLKIF_PAGE_SIZE) {
      throw new RangeError(`BlkfrontStream: size ${size} is not 512..4096 in steps of 512`);
    }
    this.step = size / BLKIF_SECTOR_SIZE;
    this.lastSect = this.step - 1;
    this.operation = options.operation ?? BlkifOp.READ;
    const sectors = options.sectors ?? info.sectors;
    this.wrap = Math.max(1, sectors - (sectors % BLKIF_SECTORS_PER_PAGE) - this.step + 1);
    this.inFlight = new Uint8Array(options.depth);
  }

  /** Runs the load; resolves when `count` requests have completed. */
  run(): Promise<BlkfrontStreamResult> {
    const front = this.front;
    const sent0 = front.notificationsSent;
    const irq0 = front.interrupts;
    const writable = this.operation === BlkifOp.READ;
    for (let i = 0; i < this.options.depth; i++) this.pages.push(front.allocDataPage(!writable));
    return new Promise<BlkfrontStreamResult>((resolve, reject) => {
      this.finish = () =>
        resolve({
          completed: this.completed,
          errors: this.errors,
          unexpected: this.unexpected,
          notificationsSent: front.notificationsSent - sent0,
          interrupts: front.interrupts - irq0,
        });
      this.fail = reject;
      front.responseHook = this.onResponses;
      const n = Math.min(this.options.depth, this.options.count);
      for (let slot = 0; slot < n; slot++) this.submit(slot);
      front.publish();
      if (this.options.count === 0) this.done();
    });
  }

  private submit(slot: number): void {
    const sector = this.nextSector;
    this.nextSector += this.step;
    if (this.nextSector >= this.wrap) this.nextSector = 0;
    this.inFlight[slot] = 1;
    this.submitted++;
    this.front.ring!.pushSimple(
      this.operation,
      slot,
      ID_HI,
      sector,
      0,
      this.pages[slot].gref,
      0,
      this.lastSect,
    );
  }

  private readonly onResponse = (idLo: number, idHi: number, _op: number, status: number): void => {
    if (idHi !== ID_HI || idLo >= this.inFlight.length || this.inFlight[idLo] === 0) {
      this.unexpected++;
      return;
    }
    this.inFlight[idLo] = 0;
    this.completed++;
    if (status !== BlkifStatus.OKAY) this.errors++;
    if (this.submitted < this.options.count) this.submit(idLo);
  };

  private readonly onResponses = (): void => {
    const ring = this.front.ring;
    if (ring === undefined) return;
    try {
      do {
        ring.consumeResponses(this.onResponse);
      } while (ring.finalCheckForResponses() !== 0);
    } catch (e) {
      this.front.responseHook = null;
      this.fail?.(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    this.front.publish();
    if (this.completed >= this.options.count) this.done();
  };

  private done(): void {
    this.front.responseHook = null;
    for (const p of this.pages.splice(0)) this.front.freeDataPage(p);
    this.finish?.();
    this.finish = null;
  }
}
