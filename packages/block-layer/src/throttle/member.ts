import { ConfigError, type AioContext } from '@vmkit/core';
import { ThrottleDirection, type ThrottleConfig } from './config.js';
import type { ThrottleGroup, ThrottleGroupRegistry } from './group.js';
import { ThrottledRequestQueue } from './request-queue.js';
import type { ThrottleState } from './state.js';
import { ThrottleTimers } from './timers.js';
import { validateThrottleConfig } from './validate.js';

const DIRECTIONS: readonly ThrottleDirection[] = [ThrottleDirection.read, ThrottleDirection.write];

/**
 * QEMU ThrottleGroupMember (block/throttle-groups.c): the throttling side of one BlockBackend.
 * A BlockBackend owns one for its whole life and registers it in a group while it has limits.
 *
 * QEMU runs the wake-ups in coroutines that resume right after the waker yields. Here a released
 * request is accounted and its successor scheduled synchronously at release time, then its
 * promise resolves; the order of accounting and of timer arming is the same as in QEMU.
 */
export class ThrottleGroupMember {
  /** The group's ThrottleState; null while not registered (tgm->throttle_state). */
  throttleState: ThrottleState | null = null;
  group: ThrottleGroup | null = null;
  aioContext: AioContext | null = null;
  /** This member's read and write timers; null while not registered. */
  timers: ThrottleTimers | null = null;
  /** Requests waiting per direction (pending_reqs). */
  readonly pendingReqs: [number, number] = [0, 0];
  /** > 0 while drained: requests pass and queued ones are released (io_limits_disabled). */
  ioLimitsDisabled = 0;
  /** Restarts in progress (restart_pending); restarts run synchronously, so it is 0 between calls. */
  restartPending = 0;
  /** @internal Round-robin list links, owned by the group. */
  rrNext: ThrottleGroupMember | null = null;
  /** @internal */
  rrPrev: ThrottleGroupMember | null = null;

  private readonly queues: [ThrottledRequestQueue, ThrottledRequestQueue] = [
    new ThrottledRequestQueue(),
    new ThrottledRequestQueue(),
  ];
  // Created once per member: timers need callbacks, requests need none.
  private readonly readTimerCb = (): void => this.timerCallback(ThrottleDirection.read);
  private readonly writeTimerCb = (): void => this.timerCallback(ThrottleDirection.write);

  /** `label` only names the member in messages (e.g. the BlockBackend name). */
  constructor(readonly label = '') {}

  /** throttle_group_get_name; undefined while not registered. */
  get groupName(): string | undefined {
    return this.group?.name;
  }

  /** Requests of `dir` waiting in this member's queue. */
  queuedRequests(dir: ThrottleDirection): number {
    return this.queues[dir].length;
  }

  /**
   * throttle_group_register_tgm: joins (creating if needed) the group `groupName`, at the head of
   * its round-robin list; the first member of a group takes both tokens. Timers go in `ctx`.
   */
  register(registry: ThrottleGroupRegistry, groupName: string, ctx: AioContext): void {
    if (this.group !== null) {
      throw new ConfigError(`throttle member '${this.label}' is already in group '${this.group.name}'`);
    }
    const g = registry.incref(groupName);
    this.group = g;
    this.throttleState = g.ts;
    this.aioContext = ctx;
    this.restartPending = 0;
    for (let dir = 0; dir < 2; dir++) {
      if (g.tokens[dir] === null) g.tokens[dir] = this;
    }
    g.insertHead(this);
    this.timers = new ThrottleTimers(ctx, this.readTimerCb, this.writeTimerCb);
  }

  /**
   * throttle_group_unregister_tgm: leaves the group, passing held tokens to the next member, and
   * drops the group reference. The caller drains first: no request may be pending and no timer
   * armed. Does nothing when not registered.
   */
  unregister(): void {
    const g = this.group;
    if (g === null) return;
    if (this.restartPending > 0) throw new Error('throttle: unregister during a queue restart');
    for (let dir = 0; dir < 2; dir++) {
      if (this.pendingReqs[dir] !== 0 || this.queues[dir].length !== 0 || this.timers?.timers[dir]?.pending) {
        throw new Error(`throttle member '${this.label}': unregister with throttled requests (drain first)`);
      }
      if (g.tokens[dir] === this) {
        const next = g.next(this);
        g.tokens[dir] = next === this ? null : next;
      }
    }
    g.remove(this);
    this.timers?.destroy();
    this.timers = null;
    this.throttleState = null;
    this.group = null;
    g.unref();
  }

  /**
   * throttle_group_co_io_limits_intercept, called for every read and write of a registered
   * member. Returns undefined when the request may go at once (accounting done), else a promise
   * that resolves when the request is released (accounted at release).
   */
  intercept(bytes: number, dir: ThrottleDirection): Promise<void> | undefined {
    const g = this.group;
    if (g === null) return undefined;
    // Fast path: no limits and nothing queued or armed in the group. The full path would find
    // no wait, charge buckets with avg 0 (reset by the next configuration) and schedule nothing.
    if (!g.ts.enabled && g.pendingTotal[dir] === 0 && !g.anyTimerArmed[dir]) return undefined;

    const token = this.nextThrottleToken(dir);
    const mustWait = token.scheduleTimer(dir);
    // Wait behind a timer, or behind this member's own queued requests (FIFO per member).
    if (mustWait || this.pendingReqs[dir] > 0) {
      this.pendingReqs[dir]++;
      g.pendingTotal[dir]++;
      return this.queues[dir].push(bytes);
    }
    g.ts.account(dir, bytes);
    this.scheduleNextRequest(dir, true);
    return undefined;
  }

  /**
   * next_throttle_token: the member whose request goes next in `dir`. A draining member with
   * queued requests goes first (it must never wait for others); otherwise the next member after
   * the token holder, round robin, that has requests pending; this member when there is none.
   */
  nextThrottleToken(dir: ThrottleDirection): ThrottleGroupMember {
    const g = this.group!;
    if (this.pendingReqs[dir] > 0 && this.ioLimitsDisabled > 0) return this;
    // Nobody pending: the walk below would end on `this` too.
    if (g.pendingTotal[dir] === 0) return this;
    const start = g.tokens[dir]!;
    let token = g.next(start);
    while (token !== start && token.pendingReqs[dir] === 0) token = g.next(token);
    return token === start && token.pendingReqs[dir] === 0 ? this : token;
  }

  /**
   * throttle_group_schedule_timer, on the token member: whether its next request in `dir` must
   * wait. Never for a draining member; always while some timer of the group is armed for `dir`;
   * otherwise the buckets decide, and an armed timer makes this member the token holder.
   */
  scheduleTimer(dir: ThrottleDirection): boolean {
    if (this.ioLimitsDisabled > 0) return false;
    const g = this.group!;
    if (g.anyTimerArmed[dir]) return true;
    const mustWait = g.ts.scheduleTimer(this.timers!, dir);
    if (mustWait) {
      g.tokens[dir] = this;
      g.anyTimerArmed[dir] = true;
    }
    return mustWait;
  }

  /**
   * schedule_next_request: after a request of this member was released, picks the member whose
   * queued request goes next and either arms its timer for the wait, or releases it now. With
   * `inCoroutine` (every caller except an AioContext detach), this member's own queue is
   * preferred and released directly; otherwise the chosen member's timer is armed at now.
   */
  scheduleNextRequest(dir: ThrottleDirection, inCoroutine: boolean): void {
    const g = this.group!;
    // Each iteration is QEMU's schedule_next_request; releasing our own next request continues
    // with that request's schedule_next_request, hence the loop instead of recursion.
    for (;;) {
      const token = this.nextThrottleToken(dir);
      if (token.pendingReqs[dir] === 0) return;
      if (token.scheduleTimer(dir)) return;
      if (inCoroutine && this.queues[dir].length > 0) {
        g.tokens[dir] = this;
        this.releaseOne(dir);
        continue;
      }
      const timer = token.timers!.timers[dir]!;
      timer.arm(token.timers!.clock.now());
      g.anyTimerArmed[dir] = true;
      g.tokens[dir] = token;
      return;
    }
  }

  /** timer_cb: the timer of `dir` fired, so no timer of the group is armed; restart the queue. */
  timerCallback(dir: ThrottleDirection): void {
    this.group!.anyTimerArmed[dir] = false;
    this.restartQueue(dir);
  }

  /**
   * throttle_group_restart_queue: releases this member's oldest request of `dir` (which then
   * schedules its successor), or when none is queued, schedules the group's next request.
   */
  restartQueue(dir: ThrottleDirection): void {
    this.restartPending++;
    try {
      if (this.queues[dir].length > 0) this.releaseOne(dir);
      this.scheduleNextRequest(dir, true);
    } finally {
      this.restartPending--;
    }
  }

  /**
   * throttle_group_restart_tgm: per direction, fires an armed timer now, else restarts the queue.
   * Run on a configuration change and on the first drained_begin.
   */
  restartMember(): void {
    if (this.group === null) return;
    for (const dir of DIRECTIONS) {
      const timer = this.timers?.timers[dir] ?? null;
      if (timer?.pending) {
        timer.cancel();
        this.timerCallback(dir);
      } else {
        this.restartQueue(dir);
      }
    }
  }

  /**
   * throttle_group_config: installs `cfg` (levels zeroed) for the whole group, then restarts this
   * member so requests queued under the old limits are re-evaluated. Throws ConfigError with
   * QEMU's text for an invalid configuration.
   */
  setConfig(cfg: ThrottleConfig): void {
    const g = this.requireGroup();
    const error = validateThrottleConfig(cfg);
    if (error !== undefined) throw new ConfigError(error);
    g.configure(cfg);
    this.restartMember();
  }

  /** throttle_group_get_config: the group's configuration (a copy). */
  getConfig(): ThrottleConfig {
    return this.requireGroup().getConfig();
  }

  /**
   * The drained_begin half (blk_root_drained_begin): on the first call, queued requests are
   * released and new ones pass until the matching ioLimitsDisabledDec().
   */
  ioLimitsDisabledInc(): void {
    if (this.ioLimitsDisabled++ === 0) this.restartMember();
  }

  /** The drained_end half. */
  ioLimitsDisabledDec(): void {
    if (this.ioLimitsDisabled <= 0) throw new Error('throttle: unbalanced ioLimitsDisabledDec');
    this.ioLimitsDisabled--;
  }

  /**
   * throttle_group_detach_aio_context: drops the timers. Requests must have been drained; an armed
   * timer of this member is handed on by scheduling the group's next request, so the other
   * members do not stall.
   */
  detachAioContext(): void {
    const g = this.group;
    if (g === null) return;
    for (let dir = 0; dir < 2; dir++) {
      if (this.pendingReqs[dir] !== 0 || this.queues[dir].length !== 0) {
        throw new Error(`throttle member '${this.label}': AioContext change with throttled requests`);
      }
    }
    for (const dir of DIRECTIONS) {
      if (this.timers?.timers[dir]?.pending) {
        g.anyTimerArmed[dir] = false;
        this.scheduleNextRequest(dir, false);
      }
    }
    this.timers?.detachAioContext();
    this.aioContext = null;
  }

  /** throttle_group_attach_aio_context: recreates the timers in `ctx`. */
  attachAioContext(ctx: AioContext): void {
    if (this.group === null) return;
    this.timers!.attachAioContext(ctx);
    this.aioContext = ctx;
  }

  /** The woken request's continuation: leaves the queue, is accounted, and its promise resolves. */
  private releaseOne(dir: ThrottleDirection): void {
    const g = this.group!;
    const q = this.queues[dir];
    this.pendingReqs[dir]--;
    g.pendingTotal[dir]--;
    g.ts.account(dir, q.peekBytes());
    q.release();
  }

  private requireGroup(): ThrottleGroup {
    if (this.group === null)
      throw new ConfigError(`throttle member '${this.label}' is not in a throttle group`);
    return this.group;
  }
}
