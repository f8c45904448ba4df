/**
 * `vbtest`: a RAM protocol driver for virtio-blk tests. It records every backend call, can fail
 * calls with an injected errno, hold them until released, and override max-transfer / max-iov.
 */
import { Errno, definePlugin, type VmkitPlugin } from '@vmkit/core';
import {
  MemoryState,
  RequestFlags,
  type BlockDriver,
  type BlockDriverState,
  type DriverOptions,
  type MaybePromise,
} from '@vmkit/block-layer';

export type VbOp = 'read' | 'write' | 'zero' | 'discard' | 'flush';

export interface VbCall {
  readonly op: VbOp;
  readonly offset: number;
  readonly bytes: number;
  readonly flags: number;
  /** Number of iovec entries (reads and writes). */
  readonly niov: number;
  /** The result the driver returned (0 or negative errno). */
  ret: number;
  /** The node was plugged (io_plug) when the call arrived. */
  plugged?: boolean;
  /** deferCallBegin nesting of the node's AioContext when the call arrived. */
  deferDepth?: number;
  /** Name of the node's AioContext when the call arrived. */
  context?: string;
}

export interface VbError {
  readonly op: VbOp;
  /** Negative errno. */
  readonly ret: number;
  /** Only calls at this byte offset. */
  readonly offset?: number;
  /** Fail every time instead of once. */
  readonly sticky?: boolean;
}

export class VbState {
  readonly mem: MemoryState;
  readonly calls: VbCall[] = [];
  readonly errors: VbError[] = [];
  /** Hold every call until release(). */
  hold = false;
  private readonly held: Array<() => void> = [];
  /** Complete through a resolved promise (asynchronously) instead of synchronously. */
  async = false;
  /** Plug / unplug hook calls (0→1 and 1→0 transitions). */
  plugs = 0;
  unplugs = 0;
  /** Called for every call as it arrives. */
  onCall: ((call: VbCall) => void) | null = null;

  constructor(
    size: number,
    readonly maxTransfer: number,
    readonly maxIov: number,
  ) {
    this.mem = new MemoryState(size);
  }

  get heldCount(): number {
    return this.held.length;
  }

  /** Completes the `n` oldest held calls (default all). */
  release(n = this.held.length): void {
    for (const r of this.held.splice(0, n)) r();
  }

  ops(op: VbOp): VbCall[] {
    return this.calls.filter((c) => c.op === op);
  }

  /** Bytes [offset, offset+length) of the disk. */
  bytes(offset: number, length: number): Uint8Array {
    const out = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const pos = offset + i;
      const chunk = this.mem.chunks.get(Math.floor(pos / 65536));
      out[i] = chunk === undefined ? 0 : chunk[pos % 65536];
    }
    return out;
  }

  run(bs: BlockDriverState<VbState>, call: VbCall, body: () => void): MaybePromise<number> {
    call.plugged = bs.ioPlugged > 0;
    call.deferDepth = bs.aioContext.deferCallDepth;
    call.context = bs.aioContext.name;
    this.calls.push(call);
    this.onCall?.(call);
    const i = this.errors.findIndex(
      (e) => e.op === call.op && (e.offset === undefined || e.offset === call.offset),
    );
    let ret = 0;
    if (i >= 0) {
      const e = this.errors[i];
      if (e.sticky !== true) this.errors.splice(i, 1);
      ret = e.ret;
    }
    const finish = (): number => {
      if (ret === 0) body();
      call.ret = ret;
      return ret;
    };
    if (this.hold) return new Promise<void>((resolve) => this.held.push(resolve)).then(finish);
    if (this.async) return Promise.resolve().then(finish);
    return finish();
  }
}

function num(options: DriverOptions, key: string, dflt: number): number {
  const v = options[key];
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`vbtest: bad ${key}`);
  return v;
}

interface VbOptions {
  size: number;
  maxTransfer: number;
  maxIov: number;
}

function st(bs: BlockDriverState<VbState>): VbState {
  return bs.opaque;
}

export const vbtestDriver: BlockDriver<VbState, VbOptions> = {
  name: 'vbtest',
  kind: 'protocol',
  supportedWriteFlags: RequestFlags.FUA,
  supportedZeroFlags: RequestFlags.FUA | RequestFlags.MAY_UNMAP,
  parseOptions: (o) => ({
    size: num(o, 'size', 64 << 20),
    maxTransfer: num(o, 'max-transfer', 0),
    maxIov: num(o, 'max-iov', 0),
  }),
  open(bs, o) {
    bs.opaque = new VbState(o.size, o.maxTransfer, o.maxIov);
  },
  refreshLimits(bs) {
    const s = st(bs);
    if (s.maxTransfer > 0) bs.limits.maxTransfer = s.maxTransfer;
    if (s.maxIov > 0) bs.limits.maxIov = s.maxIov;
  },
  getLength: (bs) => st(bs).mem.size,
  ioPlug: (bs) => {
    st(bs).plugs++;
  },
  ioUnplug: (bs) => {
    st(bs).unplugs++;
  },
  preadv: (bs, offset, bytes, qiov, qiovOffset, flags) =>
    st(bs).run(bs, { op: 'read', offset, bytes, flags, niov: qiov.niov, ret: 0 }, () =>
      st(bs).mem.read(offset, bytes, qiov, qiovOffset),
    ),
  pwritev: (bs, offset, bytes, qiov, qiovOffset, flags) =>
    st(bs).run(bs, { op: 'write', offset, bytes, flags, niov: qiov.niov, ret: 0 }, () =>
      st(bs).mem.write(offset, bytes, qiov, qiovOffset),
    ),
  pwriteZeroes: (bs, offset, bytes, flags) =>
    st(bs).run(bs, { op: 'zero', offset, bytes, flags, niov: 0, ret: 0 }, () =>
      st(bs).mem.zero(offset, bytes, (flags & RequestFlags.MAY_UNMAP) !== 0),
    ),
  pdiscard: (bs, offset, bytes) =>
    st(bs).run(bs, { op: 'discard', offset, bytes, flags: 0, niov: 0, ret: 0 }, () =>
      st(bs).mem.zero(offset, bytes, true),
    ),
  flush: (bs) =>
    st(bs).run(bs, { op: 'flush', offset: 0, bytes: 0, flags: 0, niov: 0, ret: 0 }, () => undefined),
  truncate(bs, offset) {
    if (offset < 0) return -Errno.EINVAL;
    st(bs).mem.truncate(offset);
    return 0;
  },
};

export const vbtestPlugin: VmkitPlugin = definePlugin('vbtest', (ctx) => ctx.blockDriver(vbtestDriver));
