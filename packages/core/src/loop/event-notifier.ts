import type { AioContext } from './aio-context.js';
import type { BottomHalf } from './bottom-half.js';

export type EventNotifierHandler = (notifier: EventNotifier) => void;

/**
 * EventNotifier (an eventfd): set() is the write, testAndClear() the read. A handler attached
 * to a context runs from a bottom half of that context, so several set() calls before it runs
 * give one handler call, and set() never calls the handler synchronously.
 */
export class EventNotifier {
  readonly name: string;
  private flag = false;
  private ctx: AioContext | null = null;
  private handler: EventNotifierHandler | null = null;
  private dispatchBh: BottomHalf | null = null;

  constructor(name = 'event-notifier') {
    this.name = name;
  }

  get isSet(): boolean {
    return this.flag;
  }

  get context(): AioContext | null {
    return this.ctx;
  }

  /** event_notifier_set. */
  set(): void {
    this.flag = true;
    this.dispatchBh?.schedule();
  }

  /** event_notifier_test_and_clear: returns whether it was set. */
  testAndClear(): boolean {
    const was = this.flag;
    this.flag = false;
    return was;
  }

  /**
   * aio_set_event_notifier: attaches `handler` in `ctx`. `null` (or no handler) detaches; the
   * notifier keeps its pending state, and attaching while set dispatches the handler.
   */
  setHandler(ctx: AioContext | null, handler?: EventNotifierHandler): void {
    if (ctx === null || handler === undefined) {
      this.dispatchBh?.delete();
      this.dispatchBh = null;
      this.ctx = null;
      this.handler = null;
      return;
    }
    if (ctx !== this.ctx || this.dispatchBh === null) {
      this.dispatchBh?.delete();
      this.dispatchBh = ctx.bh(this.dispatch, `event-notifier:${this.name}`);
      this.ctx = ctx;
    }
    this.handler = handler;
    if (this.flag) this.dispatchBh.schedule();
  }

  private readonly dispatch = (): void => {
    // Like a readable eventfd: only a notifier still set (not cleared meanwhile) is dispatched.
    if (this.flag && this.handler !== null) this.handler(this);
  };
}
