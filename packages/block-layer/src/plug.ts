/**
 * io_plug counters (reference §1.4, pre-8.2 block/io.c bdrv_io_plug/unplug): plugging recurses
 * into the children first, then counts; the driver hook runs on the node's 0→1 transition.
 * Unplugging counts down, runs the hook on 1→0, then recurses.
 */
import type { BlockDriverState } from './node.js';

/** bdrv_io_plug. */
export function ioPlug(bs: BlockDriverState): void {
  for (const c of bs.children) if (c.bs !== null) ioPlug(c.bs);
  if (bs.ioPlugged++ === 0) bs.driver.ioPlug?.(bs);
}

/** bdrv_io_unplug; throws when not plugged (QEMU asserts). */
export function ioUnplug(bs: BlockDriverState): void {
  if (bs.ioPlugged <= 0) throw new Error(`ioUnplug on ${bs.toString()} without ioPlug`);
  if (--bs.ioPlugged === 0) bs.driver.ioUnplug?.(bs);
  for (const c of bs.children) if (c.bs !== null) ioUnplug(c.bs);
}
