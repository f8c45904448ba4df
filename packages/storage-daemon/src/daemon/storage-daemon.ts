/**
 * The daemon (qemu-storage-daemon.c): a Machine with the block layer, virtio and virtio-blk
 * plugins, configured by the command line's steps in order (blockdev-add, object-add, export),
 * and a shutdown that stops accepting, drains, flushes every node and closes everything.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { Machine, strerror, type Clock } from '@vmkit/core';
import { blkDrainAll, bdrvFlush, blockLayerOf, blockLayerPlugin } from '@vmkit/block-layer';
import { virtioPlugin } from '@vmkit/virtio';
import { virtioBlkPlugin } from '@vmkit/virtio-blk';
import { QmpServer } from '@vmkit/monitor';
import { DaemonOptionError, type DaemonAction } from '../options/command-line.js';
import { VhostUserBlkExport, type ExportLog } from './vhost-user-blk-export.js';

export interface StorageDaemonOptions {
  /** One-line reports (status, problems), without the program name; default: stderr with it. */
  readonly log?: ExportLog;
  /** Written with the process id once every export listens; removed at shutdown. */
  readonly pidfile?: string;
  /** The machine's clock (default: host time). */
  readonly clock?: Clock;
  /**
   * Called when a monitor's `quit` was answered (its QMP server is closed by then); the caller
   * shuts the daemon down as for SIGTERM. Default: nothing.
   */
  readonly onQuit?: () => void;
}

/** What shutdown did; `flushErrors` empty means every node's data reached its file. */
export interface ShutdownResult {
  readonly flushErrors: readonly string[];
}

export const DAEMON_NAME = 'vmkit-storage-daemon';

export class StorageDaemon {
  private readonly exportList: VhostUserBlkExport[] = [];
  private readonly monitorList: QmpServer[] = [];
  private shutdownPromise: Promise<ShutdownResult> | null = null;
  private pidfileWritten = false;

  private constructor(
    readonly machine: Machine,
    private readonly log: ExportLog,
    private readonly pidfile: string | undefined,
    private readonly onQuit: () => void,
  ) {}

  /**
   * Builds the machine and applies `actions` in order. A failing step throws DaemonOptionError
   * naming its option, after everything done so far was taken down again.
   */
  static async start(
    actions: readonly DaemonAction[],
    options: StorageDaemonOptions = {},
  ): Promise<StorageDaemon> {
    const machine = await Machine.create({
      name: DAEMON_NAME,
      clock: options.clock,
      plugins: [blockLayerPlugin, virtioPlugin, virtioBlkPlugin],
    });
    const log = options.log ?? ((line: string) => process.stderr.write(`${DAEMON_NAME}: ${line}\n`));
    const daemon = new StorageDaemon(machine, log, options.pidfile, options.onQuit ?? (() => {}));
    try {
      for (const action of actions) await daemon.apply(action);
      if (options.pidfile !== undefined) {
        try {
          // Written whole then renamed: whoever waits for the file never reads it half-written.
          const partial = `${options.pidfile}.${process.pid}.tmp`;
          writeFileSync(partial, `${process.pid}\n`);
          renameSync(partial, options.pidfile);
          daemon.pidfileWritten = true;
        } catch (e) {
          throw new DaemonOptionError(
            '--pidfile',
            options.pidfile,
            e instanceof Error ? e.message : String(e),
          );
        }
      }
    } catch (e) {
      await daemon.teardown();
      throw e;
    }
    return daemon;
  }

  get exports(): readonly VhostUserBlkExport[] {
    return this.exportList;
  }

  /** The QMP servers of the --monitor options, in command-line order. */
  get monitors(): readonly QmpServer[] {
    return this.monitorList;
  }

  export(id: string): VhostUserBlkExport | undefined {
    return this.exportList.find((e) => e.id === id);
  }

  /** Whether shutdown() was called. */
  get shuttingDown(): boolean {
    return this.shutdownPromise !== null;
  }

  private async apply(action: DaemonAction): Promise<void> {
    try {
      switch (action.kind) {
        case 'blockdev':
          await this.machine.blockdevAdd(action.options);
          return;
        case 'object':
          this.machine.objectAdd(action.options);
          return;
        case 'export':
          this.exportList.push(await VhostUserBlkExport.create(this.machine, action.options, this.log));
          return;
        case 'monitor':
          // monitor_init_qmp over a listening socket chardev: QMP for every client that connects.
          this.monitorList.push(
            await QmpServer.listen(this.machine, action.chardev.path, { onQuit: () => this.onQuit() }),
          );
          return;
      }
    } catch (e) {
      throw DaemonOptionError.wrap(`--${action.kind}`, action.text, e);
    }
  }

  /**
   * SIGINT/SIGTERM (or QMP `quit`): close the monitors, stop accepting and disconnect the front-ends (the devices are reset), wait for
   * the requests already passed to the block layer, flush every node, then release the devices
   * and close the nodes. Idempotent: every call gets the same result.
   */
  shutdown(): Promise<ShutdownResult> {
    this.shutdownPromise ??= this.doShutdown();
    return this.shutdownPromise;
  }

  private async doShutdown(): Promise<ShutdownResult> {
    const flushErrors: string[] = [];
    // No new QMP commands while the daemon drains (a `quit` already closed its own server).
    for (const monitor of this.monitorList) await monitor.close();
    for (const exp of this.exportList) await exp.close();
    const layer = blockLayerOf(this.machine);
    await blkDrainAll(layer.graph);
    for (const bs of layer.graph.nodes()) {
      if (bs.deleted) continue;
      const ret = await bdrvFlush(bs);
      if (ret < 0) flushErrors.push(`flushing node '${bs.nodeName}' failed: ${strerror(ret)}`);
    }
    for (const line of flushErrors) this.log(line);
    await this.teardown();
    return { flushErrors };
  }

  /** Closes the monitors, releases the exports, destroys the machine (closing the nodes) and removes the pidfile. */
  private async teardown(): Promise<void> {
    for (const monitor of this.monitorList.splice(0).reverse()) await monitor.close();
    for (const exp of this.exportList.splice(0).reverse()) await exp.release();
    await this.machine.destroy();
    if (this.pidfile !== undefined && this.pidfileWritten) rmSync(this.pidfile, { force: true });
  }
}
