/**
 * A machine with the xen-bus, block-layer and xen-block plugins on a VirtualClock, guest domain 1
 * (16 MiB), a xen-bridge serving it, and helpers to add disks, devices and frontends.
 */
import { BLOCK_LAYER, Machine, VirtualClock } from '@vmkit/core';
import {
  BlockBackend,
  blockLayerPlugin,
  Perm,
  type BlockDriverState,
  type BlockLayer,
} from '@vmkit/block-layer';
import { IN_PROCESS_XEN, XenBus, xenBusPlugin, type InProcessXen, type XenGuestDomain } from '@vmkit/xen-bus';
import { xenBlockPlugin, type XenBlockDevice } from '../../src/index.js';
import { Blkfront, type BlkfrontOptions } from '../../src/testing/index.js';

export const MiB = 1024 * 1024;

/** One macrotask turn: promise continuations and setImmediate-scheduled bottom halves run. */
export function turn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Deterministic bytes (distinct per seed). */
export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = (seed * 0x9e3779b1) | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

export interface Rig {
  readonly machine: Machine;
  readonly clock: VirtualClock;
  readonly xen: InProcessXen;
  readonly guest: XenGuestDomain;
  readonly bus: XenBus;
  readonly layer: BlockLayer;
  /**
   * Runs watches, bus work, state machines and bottom halves until nothing has moved for a few
   * turns (work waiting for the virtual clock stays pending).
   */
  settle(): Promise<void>;
  /** A `memory` node (discard=unmap) of `size` bytes, optionally filled. */
  addDisk(
    name: string,
    size: number,
    contents?: Uint8Array,
    extra?: Record<string, unknown>,
  ): Promise<BlockDriverState>;
  addDevice(props: Record<string, unknown>): Promise<XenBlockDevice>;
  frontend(options?: BlkfrontOptions): Blkfront;
  /** Reads the node directly (a read-only user beside the device). */
  readDisk(node: string, offset: number, length: number): Promise<Uint8Array>;
  destroy(): Promise<void>;
}

export async function newRig(options: { pages?: number } = {}): Promise<Rig> {
  const clock = new VirtualClock();
  const machine = await Machine.create({
    plugins: [xenBusPlugin, blockLayerPlugin, xenBlockPlugin],
    clock,
  });
  const xen = machine.container.get<InProcessXen>(IN_PROCESS_XEN);
  const guest = xen.createDomain({ domid: 1, pages: options.pages ?? 4096 });
  await machine.deviceAdd({ type: 'xen-bridge', id: 'xen', 'frontend-id': 1 });
  const bus = XenBus.of(machine.bus('xen.0'))!;
  const layer = machine.container.get<BlockLayer>(BLOCK_LAYER);

  const settle = async (): Promise<void> => {
    let quiet = 0;
    // Never awaits the state machines or the bus: a hook may be waiting for the virtual clock.
    for (let i = 0; i < 1000; i++) {
      const ran = xen.flush();
      await turn();
      if (ran === 0 && xen.pendingWatchEvents === 0 && xen.flush() === 0) {
        if (++quiet >= 4) return;
      } else {
        quiet = 0;
      }
    }
    throw new Error('xen-block rig did not settle');
  };

  const rig: Rig = {
    machine,
    clock,
    xen,
    guest,
    bus,
    layer,
    settle,
    async addDisk(name, size, contents, extra = {}) {
      const bs = await machine.blockdevAdd({
        driver: 'memory',
        nodeName: name,
        size,
        discard: 'unmap',
        ...extra,
      });
      if (contents !== undefined) {
        const blk = BlockBackend.withNode(bs, {
          perm: Perm.CONSISTENT_READ | Perm.WRITE,
          sharedPerm: Perm.ALL,
        });
        await blk.write(0, contents);
        await blk.unref();
      }
      return bs;
    },
    async addDevice(props) {
      return machine.deviceAdd<XenBlockDevice>({
        type: 'xen-block',
        id: 'xvda',
        bus: 'xen.0',
        vdev: 'xvda',
        ...props,
      });
    },
    frontend(opts = {}) {
      return new Blkfront(guest, opts);
    },
    async readDisk(node, offset, length) {
      const blk = BlockBackend.withNode(layer.node(node), {
        perm: Perm.CONSISTENT_READ,
        sharedPerm: Perm.ALL,
      });
      try {
        return await blk.read(offset, length);
      } finally {
        await blk.unref();
      }
    },
    async destroy() {
      await machine.destroy();
    },
  };
  return rig;
}
