/**
 * One `--export type=vhost-user-blk`: a virtio-blk device on the exported node, served by a
 * vhost-user socket (QEMU block/export/vhost-user-blk-server.c, whose device model is its own;
 * here it is vmkit's virtio-blk, so the guest sees exactly what a vmkit machine would give it).
 * The device is made outside any bus: its properties come from the export's options.
 */
import { ConfigError, validateProperties, type LinkResolver, type Machine } from '@vmkit/core';
import { blockLayerOf } from '@vmkit/block-layer';
import { VirtioBlk, resolveConf, virtioBlkProperties } from '@vmkit/virtio-blk';
import { VhostUserServer, createPreciseTimer, type VhostUserDisconnectEvent } from '@vmkit/vhost-user';
import type { VhostUserBlkExportOptions } from '../options/export.js';

/** Where an export's one-line reports go (the daemon prefixes its name). */
export type ExportLog = (line: string) => void;

function linksOf(machine: Machine): LinkResolver {
  return {
    objectType: (id) => machine.objects().find((o) => o.id === id)?.type,
    hasBlockdev: (id) => machine.blockLayer?.hasBlockdev(id),
  };
}

export class VhostUserBlkExport {
  readonly id: string;
  /** `export 'id'`: how messages name this export. */
  readonly label: string;
  private closing: Promise<void> | null = null;
  private clientConnected = false;

  private constructor(
    readonly options: VhostUserBlkExportOptions,
    readonly device: VirtioBlk,
    readonly server: VhostUserServer,
  ) {
    this.id = options.id;
    this.label = `export '${options.id}'`;
  }

  /**
   * Realizes the device on the node and listens on `addr.path`. Configuration problems throw
   * ConfigError with QEMU's texts where QEMU has one; nothing is left behind on failure.
   */
  static async create(
    machine: Machine,
    options: VhostUserBlkExportOptions,
    log: ExportLog,
  ): Promise<VhostUserBlkExport> {
    const label = `export '${options.id}'`;
    const layer = blockLayerOf(machine);
    if (!layer.hasBlockdev(options.nodeName)) {
      throw new ConfigError(`Cannot find device='' nor node-name='${options.nodeName}'`);
    }
    const node = layer.graph.node(options.nodeName);
    if (options.writable && node?.readOnly === true) {
      throw new ConfigError('Cannot export read-only node as writable');
    }
    if (options.iothread !== undefined && !machine.hasObject(options.iothread)) {
      throw new ConfigError(`iothread "${options.iothread}" not found`);
    }
    const props = validateProperties(
      label,
      virtioBlkProperties,
      {
        drive: options.nodeName,
        readonly: !options.writable,
        'num-queues': options.numQueues,
        'logical-block-size': options.logicalBlockSize,
        // QEMU's export reports no physical block size beyond the logical one.
        'physical-block-size': options.logicalBlockSize,
        iothread: options.iothread,
      },
      linksOf(machine),
    );
    const device = new VirtioBlk(resolveConf(label, props), machine, options.id);
    await device.realize();
    try {
      const blk = device.blockBackend;
      if (options.throttleGroup !== undefined && blk !== null) {
        const type = machine.objects().find((o) => o.id === options.throttleGroup)?.type;
        if (type !== 'throttle-group') {
          throw new ConfigError(
            `throttle-group '${options.throttleGroup}' not found (add it with --object throttle-group,id=...)`,
          );
        }
        blk.ioLimitsEnable(options.throttleGroup);
      }
      if (options.coalescing !== undefined) {
        // Holds are tens to hundreds of µs: finer than the clock's setTimeout-based timers.
        const clock = machine.clock;
        device.setInterruptCoalescing(options.coalescing, clock, (cb) => createPreciseTimer(clock, cb));
      }
      const server = VhostUserServer.listen({
        path: options.addr.path,
        device,
        context: machine.mainContext,
        name: label,
        log: (line) => {
          if (!isConnectionLine(label, line)) log(line);
        },
      });
      const exp = new VhostUserBlkExport(options, device, server);
      server.on('connect', () => exp.onConnect(log));
      server.on('disconnect', (e) => exp.onDisconnect(log, e));
      return exp;
    } catch (e) {
      await releaseDevice(device);
      throw e;
    }
  }

  /** Whether a front-end is being served. */
  get connected(): boolean {
    return this.clientConnected;
  }

  private onConnect(log: ExportLog): void {
    this.clientConnected = true;
    log(`${this.label}: client connected`);
  }

  private onDisconnect(log: ExportLog, e: VhostUserDisconnectEvent): void {
    this.clientConnected = false;
    log(`${this.label}: client disconnected (${e.reason})${this.takeCoalescingReport()}`);
  }

  /**
   * `, N interrupts held (M for the full T µs)` since the last report when coalescing is on
   * (the counters restart), else nothing: QEMU has no such figure to report.
   */
  private takeCoalescingReport(): string {
    const c = this.options.coalescing;
    if (c === undefined) return '';
    let held = 0;
    let expired = 0;
    for (const q of this.device.queues) {
      const ic = q.interruptCoalescing;
      if (ic === null) continue;
      held += ic.held;
      expired += ic.expired;
      ic.held = ic.expired = 0;
    }
    return `, ${held} interrupts held (${expired} for the full ${c.usecs} µs)`;
  }

  /** Stops listening and closes the connection (the device is reset); idempotent. */
  close(): Promise<void> {
    this.closing ??= this.server.close();
    return this.closing;
  }

  /** After close(): leaves the throttle group and unrealizes the device (drains its BlockBackend). */
  async release(): Promise<void> {
    await this.close();
    await releaseDevice(this.device);
  }
}

async function releaseDevice(device: VirtioBlk): Promise<void> {
  const blk = device.blockBackend;
  if (blk !== null && blk.ioLimitsGroup !== undefined) await blk.ioLimitsDisable();
  await device.unrealize();
}

/**
 * The server's own connect/disconnect reports, which the export replaces by its status lines:
 * `client #N connected`, `front-end disconnected`, `closing the connection: <reason>`.
 */
function isConnectionLine(label: string, line: string): boolean {
  if (!line.startsWith(`${label}: `)) return false;
  const rest = line.slice(label.length + 2);
  return (
    /^client #\d+ connected$/.test(rest) ||
    rest === 'front-end disconnected' ||
    rest.startsWith('closing the connection: ')
  );
}
