/**
 * Ring start/stop for a vhost-user back-end (libvhost-user's started/enable rules): a ring runs
 * while it is started (it got a kick descriptor and no GET_VRING_BASE since) and enabled; running
 * means its VirtQueue holds the translated rings and kicks set the queue's host notifier. Guest
 * memory replacement happens here too, because running rings must be re-resolved around it.
 */
import type { GuestMemory } from '@vmkit/core';
import { VirtioStatus, availRingSize, descTableSize, usedRingSize, type VirtioDevice } from '@vmkit/virtio';
import { osStrerror } from '../os-error.js';
import { VhostUserProtocolError } from '../protocol/protocol-error.js';
import { VhostMemoryTable } from './memory-table.js';
import type { VhostVring } from './vhost-vring.js';

function hex(v: bigint | number): string {
  return `0x${v.toString(16)}`;
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export class RingControl {
  /** VHOST_USER_F_PROTOCOL_FEATURES acked: rings start disabled and wait for SET_VRING_ENABLE. */
  protocolFeaturesAcked = false;
  private tableValue = VhostMemoryTable.empty();

  constructor(
    private readonly device: VirtioDevice,
    private readonly memory: GuestMemory,
    readonly rings: readonly VhostVring[],
    private readonly isClosed: () => boolean,
    private readonly log: (line: string) => void,
  ) {}

  get table(): VhostMemoryTable {
    return this.tableValue;
  }

  /** Without VHOST_USER_F_PROTOCOL_FEATURES a ring is enabled from the start. */
  isEnabled(ring: VhostVring): boolean {
    return !this.protocolFeaturesAcked || ring.enableRequested;
  }

  /** Starts or pauses `ring` to match its started/enabled state. */
  update(ring: VhostVring): void {
    const wanted = ring.started && this.isEnabled(ring);
    if (wanted && !ring.active) this.activate(ring);
    else if (!wanted && ring.active) this.deactivate(ring);
  }

  updateAll(): void {
    for (const ring of this.rings) this.update(ring);
  }

  /**
   * GET_VRING_BASE: stops the ring and returns where the next request will be taken. Requests
   * the device took and has not completed are waited for first: their completions must reach
   * the used ring before the front-end reads it, or they would be lost across the restart.
   */
  async stop(ring: VhostVring): Promise<number> {
    if (ring.active) {
      ring.unwatchKick();
      await this.drain(ring);
      if (ring.active) this.deactivate(ring);
    }
    ring.started = false;
    ring.setKick(null);
    return ring.base;
  }

  /** Disables and stops every ring (RESET_OWNER, connection end). */
  stopAll(): void {
    for (const ring of this.rings) {
      if (ring.active) this.deactivate(ring);
      ring.started = false;
      ring.enableRequested = false;
      ring.setKick(null);
    }
  }

  /**
   * SET_MEM_TABLE: swaps the device's guest memory in one step. Running rings are unmapped first
   * and mapped again through the new table (memory hotplug while running); the old mappings are
   * released at once unless requests in flight may still write through them.
   */
  replaceMemory(table: VhostMemoryTable): void {
    const running = this.rings.filter((r) => r.active);
    for (const ring of running) {
      ring.base = ring.queue.lastAvailIdx;
      ring.queue.disable();
    }
    const old = this.tableValue;
    const inFlight = this.device.queues.some((q) => q.inUse > 0);
    old.uninstall(this.memory);
    table.install(this.memory);
    this.tableValue = table;
    old.release(!inFlight);
    // VirtQueue caches the last region it used; make every queue look the regions up again.
    for (const queue of this.device.queues) queue.setMemory(this.memory);
    for (const ring of running) this.mapRings(ring);
  }

  /** Connection end: unmaps guest memory (after the device was reset). */
  releaseMemory(inFlight: boolean): void {
    const old = this.tableValue;
    old.uninstall(this.memory);
    old.release(!inFlight);
    this.tableValue = VhostMemoryTable.empty();
  }

  /** Checks that a front-end virtual address lies in the memory table. */
  checkTranslatable(ring: VhostVring, what: string, qva: bigint): void {
    if (this.tableValue.translate(qva, 1) === undefined) {
      throw new VhostUserProtocolError(
        `SET_VRING_ADDR (9): vring ${ring.index}: ${what} address ${hex(qva)} is not in any memory region`,
      );
    }
  }

  private activate(ring: VhostVring): void {
    const device = this.device;
    if ((device.status & VirtioStatus.FEATURES_OK) === 0) {
      throw new VhostUserProtocolError(`vring ${ring.index} started before SET_FEATURES`);
    }
    this.mapRings(ring);
    ring.active = true;
    // vhost-user has no status register: the first running ring is the driver's DRIVER_OK.
    if ((device.status & VirtioStatus.DRIVER_OK) === 0)
      device.setStatus(device.status | VirtioStatus.DRIVER_OK);
    const ret = ring.watchKick();
    if (ret < 0) {
      throw new VhostUserProtocolError(
        `vring ${ring.index}: cannot watch the kick descriptor: ${osStrerror(ret)}`,
      );
    }
    // Whatever the guest queued before the ring started is processed now.
    ring.queue.hostNotifier.set();
  }

  private deactivate(ring: VhostVring): void {
    ring.unwatchKick();
    ring.base = ring.queue.lastAvailIdx;
    ring.queue.disable();
    ring.active = false;
  }

  /** Translates the ring addresses and hands them to the VirtQueue at index `ring.base`. */
  private mapRings(ring: VhostVring): void {
    const addr = ring.address;
    if (addr === null) {
      throw new VhostUserProtocolError(`vring ${ring.index} started without SET_VRING_ADDR`);
    }
    if (ring.num === 0) throw new VhostUserProtocolError(`vring ${ring.index} started without SET_VRING_NUM`);
    const desc = this.translateRing(ring, 'descriptor table', addr.desc, descTableSize(ring.num));
    const avail = this.translateRing(ring, 'avail ring', addr.avail, availRingSize(ring.num));
    const used = this.translateRing(ring, 'used ring', addr.used, usedRingSize(ring.num));
    const queue = ring.queue;
    queue.setSize(ring.num);
    queue.setAddresses(desc, avail, used);
    queue.enable();
    queue.restoreIndices(ring.base);
    ring.signalledUsed = queue.usedIdx;
  }

  private translateRing(ring: VhostVring, what: string, qva: bigint, length: number): number {
    const gpa = this.tableValue.translate(qva, length);
    // A ring must also sit in one GuestMemory region (a region mapped in pieces has seams).
    if (gpa === undefined || this.memory.tryView(gpa, length) === undefined) {
      throw new VhostUserProtocolError(
        `vring ${ring.index}: ${what} at ${hex(qva)} (${length} bytes) is not inside one memory region`,
      );
    }
    return gpa;
  }

  private async drain(ring: VhostVring): Promise<void> {
    const queue = ring.queue;
    for (let turn = 0; queue.inUse > 0 && !this.isClosed(); turn++) {
      // Completions usually arrive within a few loop turns; slow I/O is polled gently.
      await (turn < 100 ? nextTurn() : pause(1));
      if (turn === 2000) {
        this.log(`vring ${ring.index}: stopping, waiting for ${queue.inUse} requests in flight`);
      }
    }
  }
}
