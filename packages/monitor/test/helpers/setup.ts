import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockLayerPlugin } from '@vmkit/block-layer';
import { Machine, VirtualClock } from '@vmkit/core';
import { QmpServer, type QmpServerOptions } from '../../src/index.js';
import { RawQmpClient } from './qmp-client.js';
import { toyPlugin } from './toy-disk.js';

export interface Env {
  readonly machine: Machine;
  readonly clock: VirtualClock;
  readonly server: QmpServer;
  readonly path: string;
  readonly clients: RawQmpClient[];
  /** A connected client that finished negotiation. */
  client(): Promise<RawQmpClient>;
  /** A connected client that has read nothing yet (not even the greeting). */
  rawClient(): Promise<RawQmpClient>;
  cleanup(): Promise<void>;
}

/** A machine (block layer + toy disks, VirtualClock) served on a fresh unix socket. */
export async function setup(options: QmpServerOptions = {}): Promise<Env> {
  const clock = new VirtualClock(5_000_123_456);
  const machine = await Machine.create({ plugins: [blockLayerPlugin, toyPlugin], clock });
  const dir = mkdtempSync(join(tmpdir(), 'vmkit-qmp-'));
  const path = join(dir, 'qmp.sock');
  const server = await QmpServer.listen(machine, path, { timestamps: 'machine', ...options });
  const clients: RawQmpClient[] = [];
  return {
    machine,
    clock,
    server,
    path,
    clients,
    async client() {
      const c = await RawQmpClient.negotiated(path);
      clients.push(c);
      return c;
    },
    async rawClient() {
      const c = await RawQmpClient.connect(path);
      clients.push(c);
      return c;
    },
    async cleanup() {
      for (const c of clients) c.destroy();
      await server.close();
      await machine.destroy();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
