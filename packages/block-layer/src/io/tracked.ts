/**
 * Tracked requests (block/io.c tracked_request_begin/end, bdrv_find_conflicting_request,
 * bdrv_wait_serialising_requests). Every read, write, discard and truncate that yields registers
 * its (aligned) range on the node so that serialising requests can wait for overlaps.
 */
import type { BlockDriverState } from '../node.js';

export type TrackedRequestType = 'read' | 'write' | 'discard' | 'truncate';

/** One request in flight on a node (BdrvTrackedRequest). */
export class TrackedRequest {
  serialising = false;
  overlapOffset: number;
  overlapBytes: number;
  /** The request this one is waiting for (conflicts with waiting requests are skipped). */
  waitingFor: TrackedRequest | null = null;
  /** Resolvers of requests waiting for this one to end. */
  private waiters: Array<() => void> | null = null;
  /** @internal Links of the node's TrackedRequestList. */
  prev: TrackedRequest | null = null;
  /** @internal */
  next: TrackedRequest | null = null;
  /** @internal Whether the request is in its node's list. */
  listed = false;

  constructor(
    readonly bs: BlockDriverState,
    readonly offset: number,
    readonly bytes: number,
    readonly type: TrackedRequestType,
  ) {
    this.overlapOffset = offset;
    this.overlapBytes = bytes;
  }

  /** Resolves when this request ends. */
  wait(): Promise<void> {
    return new Promise<void>((resolve) => {
      (this.waiters ??= []).push(resolve);
    });
  }

  /** @internal wakes every waiter. */
  wakeAll(): void {
    const w = this.waiters;
    if (w === null) return;
    this.waiters = null;
    for (const resolve of w) resolve();
  }
}

/**
 * The requests in flight on a node (BlockDriverState.tracked_requests), in the order they began.
 * An intrusive list: a Set that fills and empties with every batch of requests reallocates its
 * hash table each time (about 190 bytes of garbage per request in a guest's random writes).
 */
export class TrackedRequestList implements Iterable<TrackedRequest> {
  private head: TrackedRequest | null = null;
  private tail: TrackedRequest | null = null;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** The oldest request (walk on with `req.next`), or null. */
  get first(): TrackedRequest | null {
    return this.head;
  }

  has(req: TrackedRequest): boolean {
    return req.listed && req.bs.trackedRequests === this;
  }

  /** @internal Appends `req` to its own node's list (once: listed again, it stays put). */
  add(req: TrackedRequest): void {
    if (req.listed || req.bs.trackedRequests !== this) return;
    req.listed = true;
    req.prev = this.tail;
    req.next = null;
    if (this.tail === null) this.head = req;
    else this.tail.next = req;
    this.tail = req;
    this.count++;
  }

  /** @internal Removes `req`; false when it is not in this list. */
  delete(req: TrackedRequest): boolean {
    if (!this.has(req)) return false;
    const { prev, next } = req;
    if (prev === null) this.head = next;
    else prev.next = next;
    if (next === null) this.tail = prev;
    else next.prev = prev;
    req.prev = req.next = null;
    req.listed = false;
    this.count--;
    return true;
  }

  *[Symbol.iterator](): Iterator<TrackedRequest> {
    for (let req = this.head; req !== null; req = req.next) yield req;
  }
}

/** tracked_request_begin. */
export function trackedRequestBegin(
  bs: BlockDriverState,
  offset: number,
  bytes: number,
  type: TrackedRequestType,
): TrackedRequest {
  const req = new TrackedRequest(bs, offset, bytes, type);
  bs.trackedRequests.add(req);
  return req;
}

/** tracked_request_end: unregisters and wakes requests waiting for it. */
export function trackedRequestEnd(req: TrackedRequest): void {
  const bs = req.bs;
  if (req.serialising) bs.serialisingInFlight--;
  bs.trackedRequests.delete(req);
  req.wakeAll();
}

/** tracked_request_set_serialising: widen the overlap range to `align` boundaries. */
export function setSerialising(req: TrackedRequest, align: number): void {
  const start = Math.floor(req.offset / align) * align;
  const end = Math.ceil((req.offset + req.bytes) / align) * align;
  if (!req.serialising) {
    req.bs.serialisingInFlight++;
    req.serialising = true;
  }
  const curEnd = req.overlapOffset + req.overlapBytes;
  req.overlapOffset = Math.min(req.overlapOffset, start);
  req.overlapBytes = Math.max(curEnd, end) - req.overlapOffset;
}

function overlaps(req: TrackedRequest, offset: number, bytes: number): boolean {
  if (offset >= req.overlapOffset + req.overlapBytes) return false;
  if (req.overlapOffset >= offset + bytes) return false;
  return true;
}

/** bdrv_find_conflicting_request: an overlapping request, either side serialising, not waiting. */
export function findConflictingRequest(self: TrackedRequest): TrackedRequest | null {
  for (let req = self.bs.trackedRequests.first; req !== null; req = req.next) {
    if (req === self || (!req.serialising && !self.serialising)) continue;
    if (overlaps(req, self.overlapOffset, self.overlapBytes) && req.waitingFor === null) return req;
  }
  return null;
}

/** bdrv_wait_serialising_requests_locked: waits until no conflicting request remains. */
export async function waitSerialisingRequestsLocked(self: TrackedRequest): Promise<void> {
  let req: TrackedRequest | null;
  while ((req = findConflictingRequest(self)) !== null) {
    self.waitingFor = req;
    await req.wait();
    self.waitingFor = null;
  }
}

/**
 * bdrv_wait_serialising_requests: only when a serialising request is in flight. Returns
 * undefined (no await needed) in the common case.
 */
export function waitSerialisingRequests(self: TrackedRequest): Promise<void> | undefined {
  if (self.bs.serialisingInFlight === 0) return undefined;
  if (findConflictingRequest(self) === null) return undefined;
  return waitSerialisingRequestsLocked(self);
}

/** bdrv_make_request_serialising: mark, then wait for conflicts. */
export function makeRequestSerialising(req: TrackedRequest, align: number): Promise<void> | undefined {
  setSerialising(req, align);
  if (findConflictingRequest(req) === null) return undefined;
  return waitSerialisingRequestsLocked(req);
}
