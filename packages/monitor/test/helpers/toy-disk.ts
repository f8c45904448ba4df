/**
 * A toy block device for the monitor's tests: it attaches to a `drive`, applies rerror/werror
 * like a real disk (blk_get_error_action + blk_error_action on a failed request), and its writes
 * are driven by the test.
 */
import { BlockAcctCookie, BlockAcctType, type BlockBackend } from '@vmkit/block-layer';
import { defineDeviceType, definePlugin, IOVector, type Device, type Machine } from '@vmkit/core';

const POLICIES = ['report', 'ignore', 'stop', 'enospc'] as const;
type Policy = (typeof POLICIES)[number];

export class ToyDisk implements Device {
  blk: BlockBackend | undefined;
  resets = 0;

  constructor(
    readonly machine: Machine,
    readonly id: string,
    readonly drive: string,
    readonly rerror: Policy,
    readonly werror: Policy,
  ) {}

  realize(): void {
    const blk = this.machine.blockBackend(this.drive);
    blk.attachDev(this, this.id);
    blk.setOnError(this.rerror, this.werror);
    blk.iostatusEnable();
    this.blk = blk;
  }

  async unrealize(): Promise<void> {
    const blk = this.blk;
    if (blk === undefined) return;
    this.blk = undefined;
    await blk.detachDev(this);
    await blk.unref();
  }

  reset(): void {
    this.resets++;
  }

  /** A guest write, accounted as devices do: 0 or -errno, after the error policy was applied. */
  async write(offset: number, data: Uint8Array): Promise<number> {
    const blk = this.blk!;
    const cookie = new BlockAcctCookie();
    blk.acctStart(cookie, data.length, BlockAcctType.WRITE);
    const ret = await blk.coPwritev(offset, data.length, IOVector.fromBuffer(data));
    if (ret < 0) {
      blk.acctFailed(cookie);
      blk.errorAction(blk.getErrorAction(false, ret), false, -ret);
    } else {
      blk.acctDone(cookie);
    }
    return ret;
  }
}

export const toyDiskType = defineDeviceType({
  name: 'toy-disk',
  bus: null,
  description: 'a disk for monitor tests',
  properties: {
    drive: { kind: 'link', target: 'blockdev', required: true },
    rerror: { kind: 'enum', values: POLICIES, default: 'report' },
    werror: { kind: 'enum', values: POLICIES, default: 'report' },
  },
  create(props, ctx) {
    return new ToyDisk(ctx.machine, ctx.id, props.drive, props.rerror, props.werror);
  },
});

export const toyPlugin = definePlugin('toy', (ctx) => {
  ctx.deviceType(toyDiskType);
});
