/**
 * blkdebug's rule engine (QEMU block/blkdebug.c: process_rule, blkdebug_co_debug_event,
 * rule_check, the breakpoint functions).
 *
 * - Rules are kept per event, newest first. When an event fires, every rule for it whose `state`
 *   is 0 or the current state acts: inject-error rules become the *active* set (replacing the
 *   previous set, newest-first order reversed so that the oldest matching rule wins), set-state
 *   rules choose the next state (all evaluated in the old state), suspend rules (breakpoints)
 *   are removed and suspend the request raising the event.
 * - `check()` is called by every I/O method: the first active rule matching the offset and the
 *   I/O type fails the request with its errno, after one trip through the event loop unless
 *   `immediately`; a `once` rule is then deleted.
 * - Breakpoints: `breakpoint(event, tag)` adds a suspend rule; `waitBreak(tag)` resolves once a
 *   request is suspended under `tag`; `resume(tag)` releases the most recently suspended one;
 *   `removeBreak(tag)` deletes the tag's rules and releases all its requests.
 */
import { Errno, trace, type AioContext } from '@vmkit/core';
import type { BlkdebugEvent } from '../driver.js';
import {
  ioTypeBit,
  parseEvent,
  type BlkdebugIoType,
  type InjectErrorRule,
  type SetStateRule,
} from './blkdebug-options.js';

interface SuspendRule {
  readonly action: 'suspend';
  readonly event: BlkdebugEvent;
  readonly state: 0;
  readonly tag: string;
}

type Rule = InjectErrorRule | SetStateRule | SuspendRule;

interface SuspendedRequest {
  readonly tag: string;
  readonly resume: () => void;
}

const READ_BIT = ioTypeBit('read');

export class BlkdebugRules {
  /** Current state of the state machine (starts at 1). */
  state = 1;
  private readonly rules = new Map<BlkdebugEvent, Rule[]>();
  /** Active inject-error rules, in matching order. */
  private active: InjectErrorRule[] = [];
  /** Suspended requests, most recent first. */
  private readonly suspended: SuspendedRequest[] = [];
  private readonly breakWaiters = new Map<string, Array<() => void>>();

  /** `context()` gives the AioContext in which delayed errors complete (the node's). */
  constructor(
    private readonly context: () => AioContext,
    private readonly name: () => string = () => 'blkdebug',
  ) {}

  /** Adds a rule at the head of its event's list (QLIST_INSERT_HEAD). */
  add(rule: InjectErrorRule | SetStateRule): void {
    this.insert(rule);
  }

  private insert(rule: Rule): void {
    let list = this.rules.get(rule.event);
    if (list === undefined) this.rules.set(rule.event, (list = []));
    list.unshift(rule);
  }

  private remove(rule: Rule): void {
    const list = this.rules.get(rule.event);
    const i = list?.indexOf(rule) ?? -1;
    if (i >= 0) list!.splice(i, 1);
  }

  /** Rules currently registered (for tests and diagnostics), per event, newest first. */
  rulesFor(event: BlkdebugEvent): readonly Readonly<Rule>[] {
    return this.rules.get(event) ?? [];
  }

  /**
   * blkdebug_co_debug_event: runs the event's rules. Returns a promise only when a breakpoint
   * suspended the request; it resolves once every breakpoint hit here was resumed.
   */
  event(event: BlkdebugEvent): void | Promise<void> {
    const list = this.rules.get(event);
    if (list === undefined || list.length === 0) return;
    let newState = this.state;
    let injected = false;
    let waits: Promise<void>[] | null = null;
    for (const rule of list.slice()) {
      if (rule.state && rule.state !== this.state) continue;
      switch (rule.action) {
        case 'inject-error':
          if (!injected) {
            this.active = [];
            injected = true;
          }
          this.active.unshift(rule);
          break;
        case 'set-state':
          newState = rule.newState;
          break;
        case 'suspend':
          (waits ??= []).push(this.suspend(rule));
          break;
      }
    }
    this.state = newState;
    if (waits === null) return;
    return waits.length === 1 ? waits[0] : Promise.all(waits).then(() => undefined);
  }

  private suspend(rule: SuspendRule): Promise<void> {
    this.remove(rule);
    const tag = rule.tag;
    return new Promise<void>((resolve) => {
      this.suspended.unshift({ tag, resume: resolve });
      trace('blkdebug', 'suspend', { node: this.name(), tag, event: rule.event });
      const waiters = this.breakWaiters.get(tag);
      if (waiters !== undefined) {
        this.breakWaiters.delete(tag);
        for (const w of waiters) w();
      }
    });
  }

  /**
   * rule_check: 0 when no active rule matches; otherwise the rule's negative errno, as a number
   * when `immediately`, else as a promise settled from a one-shot bottom half.
   */
  check(offset: number, bytes: number, iotype: BlkdebugIoType): number | Promise<number> {
    const active = this.active;
    if (active.length === 0) return 0;
    const bit = iotype === 'read' ? READ_BIT : ioTypeBit(iotype);
    let rule: InjectErrorRule | null = null;
    for (const r of active) {
      if (
        (r.offset === -1 || (bytes > 0 && r.offset >= offset && r.offset < offset + bytes)) &&
        r.iotypeMask & bit
      ) {
        rule = r;
        break;
      }
    }
    if (rule === null || rule.errno === 0) return 0;
    if (rule.once) {
      active.splice(active.indexOf(rule), 1);
      this.remove(rule);
    }
    const ret = -rule.errno;
    trace('blkdebug', 'inject', { node: this.name(), iotype, offset, bytes, errno: rule.errno });
    if (rule.immediately) return ret;
    return new Promise<number>((resolve) => this.context().scheduleOneshot(() => resolve(ret)));
  }

  /** bdrv_debug_breakpoint: 0, or -ENOENT for an unknown event name. */
  breakpoint(event: string, tag: string): number {
    let ev: BlkdebugEvent;
    try {
      ev = parseEvent(event);
    } catch {
      return -Errno.ENOENT;
    }
    this.insert({ action: 'suspend', event: ev, state: 0, tag });
    return 0;
  }

  /** bdrv_debug_resume: releases the most recently suspended request with `tag`; -ENOENT if none. */
  resume(tag: string): number {
    const i = this.suspended.findIndex((r) => r.tag === tag);
    if (i < 0) return -Errno.ENOENT;
    const [r] = this.suspended.splice(i, 1);
    trace('blkdebug', 'resume', { node: this.name(), tag });
    r.resume();
    return 0;
  }

  /** bdrv_debug_remove_breakpoint: deletes the tag's breakpoints and resumes its requests. */
  removeBreak(tag: string): number {
    let ret: number = -Errno.ENOENT;
    for (const list of this.rules.values()) {
      for (let i = list.length - 1; i >= 0; i--) {
        const r = list[i];
        if (r.action === 'suspend' && r.tag === tag) {
          list.splice(i, 1);
          ret = 0;
        }
      }
    }
    while (this.resume(tag) === 0) ret = 0;
    return ret;
  }

  /** bdrv_debug_is_suspended. */
  isSuspended(tag: string): boolean {
    return this.suspended.some((r) => r.tag === tag);
  }

  /** Tags of the suspended requests, most recent first. */
  get suspendedTags(): string[] {
    return this.suspended.map((r) => r.tag);
  }

  /** qemu-io `wait_break`: resolves when a request is suspended under `tag` (at once if one is). */
  waitBreak(tag: string): Promise<void> {
    if (this.isSuspended(tag)) return Promise.resolve();
    return new Promise<void>((resolve) => {
      let list = this.breakWaiters.get(tag);
      if (list === undefined) this.breakWaiters.set(tag, (list = []));
      list.push(resolve);
    });
  }

  /** Drops every rule and releases every suspended request (close). */
  clear(): void {
    this.rules.clear();
    this.active = [];
    while (this.suspended.length) this.suspended.shift()!.resume();
  }
}
