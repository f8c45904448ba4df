/**
 * AioWait (util/aio-wait.c): waiters re-evaluate their condition when kicked. As in QEMU,
 * aio_wait_kick() is global: a completion in an IOThread context wakes a waiter in the main
 * context, so a kick re-evaluates the waiters of every context.
 */

interface Waiter {
  readonly condition: () => boolean;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

/** The waiters of one context. */
export class WaitList {
  private readonly waiters: Waiter[] = [];

  get size(): number {
    return this.waiters.length;
  }

  /** Resolves when condition() is false; evaluated once right away. */
  waitWhile(condition: () => boolean): Promise<void> {
    try {
      if (!condition()) return Promise.resolve();
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ condition, resolve, reject });
      waitingLists.add(this);
    });
  }

  /** Re-evaluates every waiter; those whose condition turned false (or threw) are settled. */
  evaluate(): void {
    const waiters = this.waiters;
    let kept = 0;
    // Index loop: a condition may register new waiters, which are then evaluated too.
    for (let i = 0; i < waiters.length; i++) {
      const waiter = waiters[i];
      let done: boolean;
      try {
        done = !waiter.condition();
      } catch (err) {
        waiter.reject(err);
        continue;
      }
      if (done) waiter.resolve();
      else waiters[kept++] = waiter;
    }
    waiters.length = kept;
    if (kept === 0) waitingLists.delete(this);
  }
}

/** Lists with at least one waiter; empty in the common case, which makes kick() nearly free. */
const waitingLists = new Set<WaitList>();
let kickQueued = false;

function runKick(): void {
  kickQueued = false;
  for (const list of waitingLists) list.evaluate();
}

/** aio_wait_kick: re-evaluates all waiters in a microtask (several kicks coalesce into one). */
export function kickWaiters(): void {
  if (kickQueued || waitingLists.size === 0) return;
  kickQueued = true;
  queueMicrotask(runKick);
}
