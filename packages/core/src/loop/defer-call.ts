import { ConfigError } from '../errors.js';

type DeferredFn = (arg: unknown) => void;

/**
 * util/defer-call.c, per AioContext instead of per thread: inside a begin/end section calls are
 * queued, de-duplicated by (fn, arg), and run in insertion order by the outermost end. Used to
 * batch submissions (the successor of blk_io_plug/unplug).
 */
export class DeferCallQueue {
  private depth = 0;
  // Parallel arrays with an explicit count: truncating with `length = 0` would free the backing
  // store and make every section allocate again.
  private fns: (DeferredFn | undefined)[] = [];
  private args: unknown[] = [];
  private count = 0;
  /** Reused storage swapped in while a flush runs; null while lent out. */
  private spareFns: (DeferredFn | undefined)[] | null = [];
  private spareArgs: unknown[] | null = [];

  constructor(private readonly owner: string) {}

  get nesting(): number {
    return this.depth;
  }

  begin(): void {
    this.depth++;
  }

  end(): void {
    if (this.depth === 0) {
      throw new ConfigError(
        `deferCallEnd() without a matching deferCallBegin() in AioContext '${this.owner}'`,
      );
    }
    if (--this.depth > 0 || this.count === 0) return;
    this.flush();
  }

  call<A>(fn: (arg: A) => void, arg: A): void {
    if (this.depth === 0) {
      fn(arg);
      return;
    }
    const fns = this.fns;
    const args = this.args;
    const n = this.count;
    // Queues are tiny (a few devices/backends per batch): a linear scan beats hashing.
    for (let i = 0; i < n; i++) {
      if (fns[i] === fn && args[i] === arg) return;
    }
    fns[n] = fn as DeferredFn;
    args[n] = arg;
    this.count = n + 1;
  }

  private flush(): void {
    const fns = this.fns;
    const args = this.args;
    const n = this.count;
    // Swap in empty storage: a deferred fn that opens its own section queues into that.
    this.fns = this.spareFns ?? [];
    this.args = this.spareArgs ?? [];
    this.count = 0;
    this.spareFns = null;
    this.spareArgs = null;
    let failed = false;
    let error: unknown;
    for (let i = 0; i < n; i++) {
      const fn = fns[i]!;
      const arg = args[i];
      fns[i] = undefined;
      args[i] = undefined;
      try {
        fn(arg);
      } catch (err) {
        // Every queued call still runs (callers rely on their submissions being flushed).
        if (!failed) {
          failed = true;
          error = err;
        }
      }
    }
    this.spareFns = fns;
    this.spareArgs = args;
    if (failed) throw error;
  }
}
