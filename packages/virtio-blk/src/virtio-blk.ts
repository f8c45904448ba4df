/**
 * The virtio-blk device (QEMU hw/block/virtio-blk.c): realize/unrealize against its
 * BlockBackend, feature offer, config space, status and reset handling, the BlockDevOps it
 * gives the BlockBackend, and the retry of `stop`-ed requests when the machine resumes. The
 * request path is in io.ts, the dataplane in dataplane.ts.
 */
import { ConfigError, trace, type AioContext, type Disposer, type IOThread, type Machine } from '@vmkit/core';
import { Perm, type BlockBackend, type BlockDevOps } from '@vmkit/block-layer';
import {
  VIRTIO_COMMON_FEATURES,
  VirtioDevice,
  VirtioDeviceId,
  VirtioStatus,
  featureBits,
  type VirtQueue,
} from '@vmkit/virtio';
import type { VirtioBlkConf } from './conf.js';
import {
  guessGeometry,
  virtioBlkConfigSize,
  writeVirtioBlkConfig,
  type BlockGeometry,
} from './config-space.js';
import { VIRTIO_BLK_SECTOR_SIZE, VirtioBlkConfigOffset, VirtioBlkFeature as F } from './constants.js';
import { VirtioBlkDataplane } from './dataplane.js';
import { VirtioBlkIo, type VirtioBlkIoOwner } from './io.js';

/** Everything realize acquired; released by unrealize or a failed realize. */
interface Realized {
  readonly blk: BlockBackend;
  readonly io: VirtioBlkIo;
  readonly dataplane: VirtioBlkDataplane;
  readonly geometry: BlockGeometry;
  readonly originalWce: boolean;
  readonly disposeRunState: Disposer;
}

export class VirtioBlk extends VirtioDevice implements VirtioBlkIoOwner {
  readonly id: string;
  readonly conf: VirtioBlkConf;
  private readonly machine: Machine;
  private state: Realized | null = null;
  /** Whether the device is read-only (VIRTIO_BLK_F_RO), decided at realize. */
  private readOnlyValue = false;
  private readonly label: string;

  /** The callbacks the BlockBackend calls (QEMU virtio_block_ops). */
  private readonly devOps: BlockDevOps = {
    resize: () => this.onResize(),
    drainedBegin: () => this.state?.dataplane.drainedBegin(),
    drainedEnd: () => this.state?.dataplane.drainedEnd(),
  };

  constructor(conf: VirtioBlkConf, machine: Machine, id: string) {
    super({
      deviceId: VirtioDeviceId.BLOCK,
      name: id,
      features: VIRTIO_COMMON_FEATURES,
      configSize: virtioBlkConfigSize(conf.discard, conf.writeZeroes),
    });
    this.conf = conf;
    this.machine = machine;
    this.id = id;
    this.label = `virtio-blk '${id}'`;
    for (let i = 0; i < conf.numQueues; i++) this.addQueue(conf.queueSize);
  }

  /** The attached BlockBackend (null before realize and after unrealize). */
  get blockBackend(): BlockBackend | null {
    return this.state?.blk ?? null;
  }

  get readOnly(): boolean {
    return this.readOnlyValue;
  }

  /** Whether the dataplane (queue processing in its context) is running. */
  get dataplaneStarted(): boolean {
    return this.state?.dataplane.started ?? false;
  }

  /** Requests popped from the rings and not completed yet (including those kept for retry). */
  get inFlightRequests(): number {
    return this.state?.io.inFlight ?? 0;
  }

  /** @internal VirtioBlkIoOwner: the context requests are processed in. */
  get ioContext(): AioContext {
    return this.state?.dataplane.context ?? this.machine.mainContext;
  }

  // ---- lifecycle ----------------------------------------------------------------------------

  /**
   * virtio_blk_device_realize: takes the drive, attaches to it, applies the backend options
   * (permissions, error policies), then offers the features that follow from them.
   */
  override async realize(): Promise<void> {
    const conf = this.conf;
    let blk: BlockBackend;
    try {
      blk = this.machine.blockBackend(conf.drive);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${this.label}: ${e.message}`, { cause: e });
      throw e;
    }
    let attached = false;
    try {
      if (!blk.isInserted()) throw new ConfigError(`${this.label}: Device needs media, but drive is empty`);
      if (blk.attachDev(this, this.id) < 0) {
        throw new ConfigError(`${this.label}: Drive '${conf.drive}' is already in use by another device`);
      }
      attached = true;
      this.applyBackendOptions(blk);
      const iothread: IOThread | null =
        conf.iothread !== undefined ? this.machine.iothread(conf.iothread) : null;
      const originalWce = blk.enableWriteCache;
      this.setOfferedFeatures(this.features(originalWce));
      const dataplane = new VirtioBlkDataplane(this, blk, iothread, this.machine.mainContext);
      const io = new VirtioBlkIo(this, blk, conf, dataplane);
      const geometry = guessGeometry(Math.max(0, blk.nbSectors()));
      const disposeRunState = this.machine.onRunStateChange((running) => {
        if (running) this.state?.io.restart();
      });
      this.state = { blk, io, dataplane, geometry, originalWce, disposeRunState };
      blk.setDevOps(this.devOps);
      blk.iostatusEnable();
    } catch (e) {
      this.state = null;
      if (attached) await blk.detachDev(this);
      await blk.unref();
      throw e;
    }
  }

  /**
   * virtio_blk_device_unrealize: the transport unplugged (and reset) the device already; waits
   * for the dataplane to stop, drains, drops requests kept for retry and releases the drive.
   */
  override async unrealize(): Promise<void> {
    const s = this.state;
    if (s === null) return;
    s.disposeRunState();
    await s.dataplane.stop();
    await s.blk.drain();
    s.io.reset();
    s.dataplane.destroy();
    this.state = null;
    await s.blk.detachDev(this);
    await s.blk.unref();
  }

  /** blkconf_apply_backend_options. */
  private applyBackendOptions(blk: BlockBackend): void {
    const conf = this.conf;
    const readOnly = conf.readonly ?? blk.isReadOnly();
    if (!readOnly && blk.isReadOnly()) throw new ConfigError(`${this.label}: Block node is read-only`);
    this.readOnlyValue = readOnly;
    const perm = Perm.CONSISTENT_READ | (readOnly ? 0 : Perm.WRITE);
    const shared = Perm.CONSISTENT_READ | Perm.WRITE_UNCHANGED | Perm.RESIZE;
    try {
      blk.setPerm(perm, shared);
    } catch (e) {
      if (e instanceof ConfigError) throw new ConfigError(`${this.label}: ${e.message}`, { cause: e });
      throw e;
    }
    const rerror = conf.rerror === 'auto' ? blk.onReadError : conf.rerror;
    const werror = conf.werror === 'auto' ? blk.onWriteError : conf.werror;
    blk.setOnError(rerror, werror);
  }

  /** virtio_blk_get_features. */
  private features(writeCache: boolean): bigint {
    const conf = this.conf;
    const bits: number[] = [F.SEG_MAX, F.GEOMETRY, F.TOPOLOGY, F.BLK_SIZE];
    if (writeCache || conf.configWce) bits.push(F.FLUSH);
    if (conf.configWce) bits.push(F.CONFIG_WCE);
    if (this.readOnlyValue) bits.push(F.RO);
    if (conf.discard) bits.push(F.DISCARD);
    if (conf.writeZeroes) bits.push(F.WRITE_ZEROES);
    if (conf.numQueues > 1) bits.push(F.MQ);
    return VIRTIO_COMMON_FEATURES | featureBits(...bits);
  }

  // ---- virtio device hooks ------------------------------------------------------------------

  /**
   * virtio_blk_handle_output: the first kick starts the dataplane (some guests kick before
   * DRIVER_OK), which then handles the queue in its context.
   */
  protected override handleOutput(queue: VirtQueue): void {
    const s = this.state;
    if (s === null) return;
    if (!s.dataplane.started) {
      s.dataplane.start();
      return;
    }
    s.io.handleVq(queue, s.dataplane.context);
  }

  /**
   * virtio_blk_set_status: at DRIVER_OK a driver without CONFIG_WCE gets the write cache it
   * negotiated (FLUSH); the dataplane starts at DRIVER_OK and stops without it.
   */
  protected override statusChanged(oldStatus: number, newStatus: number): void {
    const s = this.state;
    if (s === null) return;
    const ok = (newStatus & VirtioStatus.DRIVER_OK) !== 0;
    if (ok && !this.hasFeature(F.CONFIG_WCE)) s.blk.setEnableWriteCache(this.hasFeature(F.FLUSH));
    if (ok && (oldStatus & VirtioStatus.DRIVER_OK) === 0) s.dataplane.start();
    else if (!ok) s.dataplane.stop().catch((e: unknown) => this.stopFailed(e));
  }

  /** virtio_blk_reset: kept requests are dropped, the original write-cache mode comes back. */
  protected override resetDevice(): void {
    const s = this.state;
    if (s === null) return;
    s.io.reset();
    s.blk.setEnableWriteCache(s.originalWce);
  }

  /** virtio_blk_update_config. */
  protected override getConfig(config: Uint8Array): void {
    const s = this.state;
    if (s === null) {
      config.fill(0);
      return;
    }
    const conf = this.conf;
    const sectors = s.blk.nbSectors();
    writeVirtioBlkConfig(config, {
      capacity: sectors < 0 ? 0 : sectors,
      segMax: conf.queueSize - 2,
      geometry: s.geometry,
      logicalBlockSize: conf.logicalBlockSize,
      physicalBlockSize: conf.physicalBlockSize,
      writeCache: s.blk.enableWriteCache,
      numQueues: conf.numQueues,
      maxDiscardSectors: conf.discard ? conf.maxDiscardSectors : undefined,
      maxWriteZeroesSectors: conf.writeZeroes ? conf.maxWriteZeroesSectors : undefined,
      lengthBytes: sectors < 0 ? 0 : sectors * VIRTIO_BLK_SECTOR_SIZE,
    });
  }

  /** virtio_blk_set_config: the guest toggles the write cache (with CONFIG_WCE). */
  protected override setConfig(config: Uint8Array): void {
    const s = this.state;
    if (s === null || !this.hasFeature(F.CONFIG_WCE)) return;
    s.blk.setEnableWriteCache(config[VirtioBlkConfigOffset.WCE] !== 0);
  }

  /** A dataplane stop started by a status write failed (a bug below us): report it, keep going. */
  private stopFailed(error: unknown): void {
    trace('virtio-blk', 'dataplane-stop-failed', { device: this.name, error });
  }

  /** virtio_blk_resize: the config interrupt is raised from the main loop. */
  private onResize(): void {
    const ctx = this.transport?.context ?? this.machine.mainContext;
    ctx.scheduleOneshot(this.resizeBh);
  }

  private readonly resizeBh = (): void => {
    if (this.state !== null) this.notifyConfigChanged();
  };
}
