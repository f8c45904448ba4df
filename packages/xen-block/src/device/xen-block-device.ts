/**
 * The `xen-block` device (QEMU hw/block/xen-block.c, the `xen-disk` flavour): a Xen PV block
 * backend of type `qdisk` serving frontend `vbd` devices. Realize attaches the drive and
 * publishes the disk's keys; the XenDevice state machine connects (maps the ring, binds the
 * event channel, starts the dataplane) when the frontend is Initialised and disconnects when it
 * closes. Drained sections detach the event channel; a resize updates `sectors` and re-writes
 * `state` so the frontend's watch fires (as Linux xen-blkback does).
 */
import { ConfigError, type DeviceContext, type PropertyValues } from '@vmkit/core';
import { Perm, type BlockBackend, type BlockDevOps } from '@vmkit/block-layer';
import { XenDevice, XenDeviceError } from '@vmkit/xen-bus';
import { BLKIF_SECTOR_SIZE, VDISK_READONLY } from '../ring/index.js';
import { XenBlockDataPlane } from '../dataplane/dataplane.js';
import type { xenBlockProperties } from './properties.js';
import { parseXenBlockVdev, VDEV_RULE, type XenBlockVdev } from './vdev.js';

export type XenBlockProps = PropertyValues<typeof xenBlockProperties>;

/** Resources a toolstack-created device owns (removed with it). */
export interface XenBlockOwned {
  readonly iothread?: string;
  readonly nodes: readonly string[];
}

export class XenBlockDevice extends XenDevice implements BlockDevOps {
  readonly backendType = 'qdisk';
  readonly frontendType = 'vbd';
  readonly vdev: XenBlockVdev;
  readonly props: XenBlockProps;
  /** The logical sector size published as `sector-size`. */
  readonly sectorSize: number;
  /** The drive while realized. */
  blk: BlockBackend | undefined;
  dataplane: XenBlockDataPlane | undefined;
  /** VDISK_* bits published as `info`. */
  info = 0;
  /** Whether `feature-discard` was published. */
  discardEnabled = false;
  /** Set by the qdisk backend type for the objects it created for this device. */
  owned: XenBlockOwned | undefined;

  private attached = false;

  constructor(ctx: DeviceContext, props: XenBlockProps) {
    super(ctx, props);
    const vdev = parseXenBlockVdev(props.vdev);
    if (vdev === undefined) throw new ConfigError(`xen-block '${ctx.id}': ${VDEV_RULE}`);
    this.vdev = vdev;
    this.props = props;
    this.sectorSize = props['logical-block-size'];
  }

  /** Whether the guest may not write (the `readonly` property or a read-only drive). */
  get readOnly(): boolean {
    return (this.info & VDISK_READONLY) !== 0;
  }

  // xen_block_get_name: the VBD number.
  protected getName(): string {
    return String(this.vdev.number);
  }

  // xen_block_realize + xen_disk_realize.
  protected override realizeBackend(): void {
    const props = this.props;
    const blk = this.machine.blockBackend(props.drive);
    this.blk = blk;
    if (!blk.isInserted())
      throw new ConfigError(`xen-block '${this.id}': device needs media, but drive is empty`);
    if (blk.attachDev(this, this.id) < 0) {
      throw new ConfigError(
        `xen-block '${this.id}': drive '${props.drive}' is already in use by another device`,
      );
    }
    this.attached = true;

    this.info = props.readonly || blk.isReadOnly() ? VDISK_READONLY : 0;
    // blkconf_apply_backend_options: write only when not read-only; others may resize.
    blk.setPerm(
      Perm.CONSISTENT_READ | (this.readOnly ? 0 : Perm.WRITE),
      Perm.CONSISTENT_READ | Perm.WRITE_UNCHANGED | Perm.RESIZE | (props['share-rw'] ? Perm.WRITE : 0),
    );

    this.discardEnabled = props['discard-enable'] ?? blk.bs?.openFlags.discard === 'unmap';
    if (this.discardEnabled) {
      this.writeBackend('feature-discard', 1);
      this.writeBackend('discard-granularity', this.sectorSize);
      this.writeBackend('discard-alignment', 0);
    }
    this.writeBackend('feature-flush-cache', 1);
    this.writeBackend('max-ring-page-order', props['max-ring-page-order']);
    this.writeBackend('info', this.info);
    this.writeBackend('mode', this.readOnly ? 'r' : 'w');
    this.writeFrontend('virtual-device', this.vdev.number);
    this.writeFrontend('device-type', 'disk');
    this.writeBackend('sector-size', this.sectorSize);
    this.writeSectors();

    const iothread = props.iothread;
    this.dataplane = new XenBlockDataPlane({
      host: this,
      blk,
      sectorSize: this.sectorSize,
      ctx: iothread !== undefined ? this.machine.iothread(iothread) : this.machine.mainContext,
      mainContext: this.machine.mainContext,
    });
    // After the dataplane exists: a drive already drained calls drainedBegin right away.
    blk.setDevOps(this);
  }

  // xen_block_unrealize (the dataplane was stopped by disconnect()).
  protected override async unrealizeBackend(): Promise<void> {
    const blk = this.blk;
    // No more drained-section callbacks into a dataplane that is going away.
    if (this.attached) blk?.setDevOps(null);
    this.dataplane?.destroy();
    this.dataplane = undefined;
    if (blk === undefined) return;
    this.blk = undefined;
    if (this.attached) {
      this.attached = false;
      await blk.detachDev(this);
    }
    await blk.unref();
  }

  // xen_block_connect: the frontend's ring details, then the dataplane.
  protected override connect(): void {
    const dataplane = this.dataplane;
    if (dataplane === undefined) throw new XenDeviceError('not realized');
    const largeSectors = this.readFrontendUint('feature-large-sector-size') ?? 0;
    if (largeSectors !== 1 && this.sectorSize !== BLKIF_SECTOR_SIZE) {
      throw new XenDeviceError(`logical_block_size != ${BLKIF_SECTOR_SIZE} not supported by frontend`);
    }
    const refs = this.readRingRefs(this.props['max-ring-page-order']);
    const port = this.readEventChannel();
    dataplane.start(refs, port, this.readProtocol());
  }

  // xen_block_disconnect.
  protected override async disconnect(): Promise<void> {
    await this.dataplane?.stop();
  }

  // ---- BlockDevOps ----

  /** xen_block_drained_begin: stop taking requests from the ring. */
  drainedBegin(): void {
    this.dataplane?.detach();
  }

  /** xen_block_drained_end. */
  drainedEnd(): void {
    this.dataplane?.resume();
  }

  /** xen_block_resize_cb: new `sectors`, and `state` re-written so the frontend looks. */
  resize(): void {
    this.writeSectors();
    this.writeBackend('state', this.backendState);
  }

  // xen_block_set_size
  private writeSectors(): void {
    const bytes = this.blk?.bs?.totalBytes ?? 0;
    this.writeBackend('sectors', Math.floor(bytes / BLKIF_SECTOR_SIZE));
  }
}
