/**
 * `blkdebug`: a fault-injection filter over its `image` child (QEMU block/blkdebug.c, the
 * QEMU 8 option set): rules from a config file and from `inject-error` / `set-state` options,
 * request-limit overrides (`align`, `max-transfer`, `opt-write-zero`, `max-write-zero`,
 * `opt-discard`, `max-discard`), extra child permissions, and breakpoints for tests.
 *
 * Write-zeroes and discard requests smaller than the alignment are refused with -ENOTSUP on
 * purpose (as in QEMU) so that the generic layer's fallbacks are exercised.
 */
import { readFile } from 'node:fs/promises';
import { ConfigError, Errno, errnoFromNodeError, strerror } from '@vmkit/core';
import { BlockStatus, ChildRole, RequestFlags, type MaybePromise, type PermMask } from '../constants.js';
import type { BlockDriver } from '../driver.js';
import type { BlockDriverState } from '../node.js';
import type { BdrvChild } from '../child.js';
import { filterDefaultPerms } from '../permissions.js';
import { bdrvPreadv } from '../io/read.js';
import { bdrvPwritev, bdrvPwriteZeroes } from '../io/write.js';
import { bdrvPdiscard } from '../io/discard.js';
import {
  injectErrorRule,
  parseBlkdebugConfig,
  parseBlkdebugOptions,
  setStateRule,
  validateBlkdebugLimits,
  type BlkdebugOptions,
} from './blkdebug-options.js';
import { BlkdebugRules } from './blkdebug-rules.js';

/** Per-node state of a blkdebug node (`bs.opaque`). */
export class BlkdebugState {
  readonly rules: BlkdebugRules;
  /** Set once the image child is attached. */
  child: BdrvChild | null = null;
  constructor(
    readonly bs: BlockDriverState<BlkdebugState>,
    readonly options: BlkdebugOptions,
  ) {
    this.rules = new BlkdebugRules(
      () => bs.aioContext,
      () => bs.nodeName,
    );
  }

  get image(): BdrvChild {
    const c = this.child;
    if (c === null) throw new Error(`blkdebug node '${this.bs.nodeName}' has no image`);
    return c;
  }

  /** Breakpoint API (qemu-io break / wait_break / resume / remove_break / is_suspended). */
  breakpoint(event: string, tag: string): number {
    return this.rules.breakpoint(event, tag);
  }
  waitBreak(tag: string): Promise<void> {
    return this.rules.waitBreak(tag);
  }
  resume(tag: string): number {
    return this.rules.resume(tag);
  }
  removeBreak(tag: string): number {
    return this.rules.removeBreak(tag);
  }
  isSuspended(tag: string): boolean {
    return this.rules.isSuspended(tag);
  }
}

/**
 * The first blkdebug node at or below `bs` following primary children (how QEMU's
 * bdrv_debug_breakpoint finds the node), or null.
 */
export function findBlkdebug(bs: BlockDriverState | null): BlkdebugState | null {
  for (let n = bs; n !== null; n = n.primary?.bs ?? n.filtered?.bs ?? null) {
    if (n.driver === blkdebugDriver) return n.opaque as BlkdebugState;
  }
  return null;
}

async function loadConfig(s: BlkdebugState, path: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`Could not read blkdebug config file: ${strerror(errnoFromNodeError(e))}`);
  }
  const cfg = parseBlkdebugConfig(text, path);
  // Config-file rules come before the options' (read_config), inject-error before set-state.
  s.options.injectError.unshift(...cfg.injectError.map(injectErrorRule));
  s.options.setState.unshift(...cfg.setState.map(setStateRule));
}

/** Runs `next` unless the rule check failed the request (immediately or after a BH). */
function checked(err: number | Promise<number>, next: () => MaybePromise<number>): MaybePromise<number> {
  return err === 0 ? next() : err;
}

function st(bs: BlockDriverState<BlkdebugState>): BlkdebugState {
  return bs.opaque;
}

export const blkdebugDriver: BlockDriver<BlkdebugState, BlkdebugOptions> = {
  name: 'blkdebug',
  kind: 'filter',
  parseOptions: parseBlkdebugOptions,
  async open(bs, options) {
    // The state exists before the child is attached: childPerm and refreshLimits read it.
    const s = new BlkdebugState(bs, options);
    bs.opaque = s;
    if (options.config !== undefined) await loadConfig(s, options.config);
    for (const r of options.injectError) s.rules.add(r);
    for (const r of options.setState) s.rules.add(r);
    const child = await bs.openChild(
      options.image as Parameters<typeof bs.openChild>[0],
      'image',
      ChildRole.FILTERED | ChildRole.PRIMARY,
    );
    s.child = child;
    const image = child!.node;
    bs.supportedWriteFlags = RequestFlags.WRITE_UNCHANGED | (RequestFlags.FUA & image.supportedWriteFlags);
    bs.supportedZeroFlags =
      RequestFlags.WRITE_UNCHANGED |
      ((RequestFlags.FUA | RequestFlags.MAY_UNMAP | RequestFlags.NO_FALLBACK) & image.supportedZeroFlags);
    validateBlkdebugLimits(options, image.limits.requestAlignment);
    void s.rules.event('none');
  },
  close(bs) {
    st(bs).rules.clear();
  },
  preadv(bs, offset, bytes, qiov, qiovOffset, flags) {
    const s = st(bs);
    const err = s.rules.check(offset, bytes, 'read');
    if (err !== 0) return err;
    return bdrvPreadv(s.image, offset, bytes, qiov, qiovOffset, flags);
  },
  pwritev(bs, offset, bytes, qiov, qiovOffset, flags) {
    const s = st(bs);
    const err = s.rules.check(offset, bytes, 'write');
    if (err !== 0) return err;
    return bdrvPwritev(s.image, offset, bytes, qiov, qiovOffset, flags);
  },
  pwriteZeroes(bs, offset, bytes, flags) {
    // Smaller than the preferred alignment: make the generic layer fall back to writes.
    if (bytes < Math.max(bs.limits.requestAlignment, bs.limits.pwriteZeroesAlignment)) return -Errno.ENOTSUP;
    const s = st(bs);
    return checked(s.rules.check(offset, bytes, 'write-zeroes'), () =>
      bdrvPwriteZeroes(s.image, offset, bytes, flags),
    );
  },
  pdiscard(bs, offset, bytes) {
    if (bytes < bs.limits.requestAlignment) return -Errno.ENOTSUP;
    const s = st(bs);
    return checked(s.rules.check(offset, bytes, 'discard'), () => bdrvPdiscard(s.image, offset, bytes));
  },
  // The generic layer flushes the image afterwards (its edge has WRITE).
  flushToDisk: (bs) => st(bs).rules.check(0, 0, 'flush'),
  blockStatus(bs, _wantZero, offset, bytes) {
    const s = st(bs);
    const ok = {
      status: BlockStatus.RAW | BlockStatus.OFFSET_VALID,
      pnum: bytes,
      map: offset,
      file: s.image.bs,
    };
    const err = s.rules.check(offset, bytes, 'block-status');
    if (err === 0) return ok;
    if (typeof err === 'number') return { status: err, pnum: 0 };
    return err.then((e) => ({ status: e, pnum: 0 }));
  },
  refreshLimits(bs) {
    const o = st(bs).options;
    const bl = bs.limits;
    if (o.align) bl.requestAlignment = o.align;
    if (o.maxTransfer) bl.maxTransfer = o.maxTransfer;
    if (o.optWriteZero) bl.pwriteZeroesAlignment = o.optWriteZero;
    if (o.maxWriteZero) bl.maxPwriteZeroes = o.maxWriteZero;
    if (o.optDiscard) bl.pdiscardAlignment = o.optDiscard;
    if (o.maxDiscard) bl.maxPdiscard = o.maxDiscard;
  },
  childPerm(bs, _child, _role, perm: PermMask, shared: PermMask) {
    const p = filterDefaultPerms(perm, shared);
    const o = bs.opaque?.options;
    if (o === undefined) return p;
    return { perm: p.perm | o.takeChildPerms, shared: p.shared & ~o.unshareChildPerms };
  },
  debugEvent: (bs, event) => st(bs).rules.event(event),
  reopenPrepare() {
    // Like QEMU: the rules and limits of a blkdebug node do not change on reopen.
  },
};
