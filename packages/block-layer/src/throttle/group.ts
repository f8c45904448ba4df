import { ConfigError, type Clock } from '@vmkit/core';
import type { ThrottleConfig } from './config.js';
import { ThrottleState } from './state.js';
import { validateThrottleConfig } from './validate.js';
import type { ThrottleGroupMember } from './member.js';

/** QEMU's error text when a second group (or throttle-group object) takes an existing name. */
export const DUPLICATE_GROUP_ERROR = 'A group with this name already exists';

/**
 * QEMU ThrottleGroup: the ThrottleState shared by its members, the round-robin list of members,
 * and per direction the member whose turn it is (`tokens`) and whether a timer of some member
 * is armed (`anyTimerArmed`: one armed timer per direction per group).
 *
 * Groups are reference counted: each member holds a reference, and so does a user-created
 * throttle-group object. The group leaves its registry when the count drops to 0.
 */
export class ThrottleGroup {
  readonly ts = new ThrottleState();
  /** Per direction, the member holding the token (null only while the group has no member). */
  readonly tokens: [ThrottleGroupMember | null, ThrottleGroupMember | null] = [null, null];
  readonly anyTimerArmed: [boolean, boolean] = [false, false];
  /**
   * Sum of the members' pendingReqs per direction. Not in QEMU: it lets the request path skip
   * the round-robin walk when nobody waits, which gives the same answer.
   */
  readonly pendingTotal: [number, number] = [0, 0];
  /** Set by completion; individual properties of a throttle-group object are then read-only. */
  isInitialized = false;
  private refs = 1;
  private first: ThrottleGroupMember | null = null;
  private groupName: string | undefined;

  constructor(
    readonly registry: ThrottleGroupRegistry,
    name?: string,
  ) {
    this.groupName = name;
    this.ts.init();
  }

  get name(): string {
    if (this.groupName === undefined) throw new ConfigError('throttle group has no name yet');
    return this.groupName;
  }

  /** @internal A throttle-group object names its group after its id at completion. */
  setName(name: string): void {
    if (this.groupName === undefined) this.groupName = name;
  }

  get refcount(): number {
    return this.refs;
  }

  ref(): void {
    this.refs++;
  }

  /** object_unref: at 0 the group leaves its registry (throttle_group_obj_finalize). */
  unref(): void {
    if (this.refs <= 0) throw new Error('throttle group: unref of a freed group');
    if (--this.refs === 0) this.registry.forget(this);
  }

  /** Members in round-robin (list) order: the most recently registered first. */
  get members(): ThrottleGroupMember[] {
    const list: ThrottleGroupMember[] = [];
    for (let m = this.first; m !== null; m = m.rrNext) list.push(m);
    return list;
  }

  get memberCount(): number {
    let n = 0;
    for (let m = this.first; m !== null; m = m.rrNext) n++;
    return n;
  }

  /** throttle_group_next_tgm: the member after `m`, wrapping from the last to the first. */
  next(m: ThrottleGroupMember): ThrottleGroupMember {
    return m.rrNext ?? this.first!;
  }

  /** @internal QLIST_INSERT_HEAD. */
  insertHead(m: ThrottleGroupMember): void {
    m.rrPrev = null;
    m.rrNext = this.first;
    if (this.first !== null) this.first.rrPrev = m;
    this.first = m;
  }

  /** @internal QLIST_REMOVE. */
  remove(m: ThrottleGroupMember): void {
    if (m.rrPrev !== null) m.rrPrev.rrNext = m.rrNext;
    else this.first = m.rrNext;
    if (m.rrNext !== null) m.rrNext.rrPrev = m.rrPrev;
    m.rrNext = null;
    m.rrPrev = null;
  }

  /**
   * throttle_config on the group's state, without restarting any member's queue (that is what
   * ThrottleGroupMember.setConfig adds, as throttle_group_config does).
   */
  configure(cfg: ThrottleConfig): void {
    this.ts.configure(cfg, this.registry.clock.now());
  }

  /** throttle_get_config. */
  getConfig(): ThrottleConfig {
    return this.ts.getConfig();
  }
}

/**
 * The throttle groups of one machine by name (QEMU's global `throttle_groups` list, scoped to a
 * machine so that tests and machines do not share groups).
 */
export class ThrottleGroupRegistry {
  private readonly groups = new Map<string, ThrottleGroup>();

  /** `clock` is the machine's clock: throttle_config stamps previousLeak with it. */
  constructor(readonly clock: Clock) {}

  /** throttle_group_by_name. */
  byName(name: string): ThrottleGroup | undefined {
    return this.groups.get(name);
  }

  /** throttle_group_exists. */
  exists(name: string): boolean {
    return this.groups.has(name);
  }

  /** Names of the live groups, in creation order. */
  get names(): string[] {
    return [...this.groups.keys()];
  }

  /**
   * throttle_group_incref: the group called `name` with one more reference, created (with no
   * limits, reference count 1) when it does not exist.
   */
  incref(name: string): ThrottleGroup {
    const existing = this.groups.get(name);
    if (existing !== undefined) {
      existing.ref();
      return existing;
    }
    const group = new ThrottleGroup(this, name);
    this.complete(group);
    return group;
  }

  /**
   * throttle_group_obj_complete: refuses a duplicate name or an invalid configuration (QEMU's
   * texts, as ConfigError), then applies the configuration and lists the group.
   */
  complete(group: ThrottleGroup): void {
    if (group.isInitialized) throw new ConfigError('throttle group is already complete');
    const name = group.name;
    if (this.groups.has(name)) throw new ConfigError(DUPLICATE_GROUP_ERROR);
    const cfg = group.ts.getConfig();
    const error = validateThrottleConfig(cfg);
    if (error !== undefined) throw new ConfigError(error);
    group.configure(cfg);
    this.groups.set(name, group);
    group.isInitialized = true;
  }

  /** @internal Called when a group's reference count drops to 0. */
  forget(group: ThrottleGroup): void {
    if (group.isInitialized && this.groups.get(group.name) === group) this.groups.delete(group.name);
  }
}
