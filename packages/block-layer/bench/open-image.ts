/**
 * Opens a node graph with a BlockBackend on top for the benchmarks, through block-layer's public
 * API only: `null-co` (`{ driver: 'null-co', size }`) or a raw host file with a cache mode.
 */
import { BlockBackend, BlockGraph, builtinDrivers, type BlockdevOptions } from '../src/index.js';

/** qemu-img -t values the file benchmarks use. */
export type CacheModeName = 'none' | 'writeback' | 'unsafe';

export interface BenchImage {
  readonly blk: BlockBackend;
  close(): Promise<void>;
}

export interface OpenBenchImage {
  /** Node options, or a filename opened as raw over file. */
  readonly node: BlockdevOptions | string;
  readonly cache?: CacheModeName;
  readonly readOnly?: boolean;
}

export async function openImage(o: OpenBenchImage): Promise<BenchImage> {
  const graph = new BlockGraph({ drivers: builtinDrivers() });
  const cache = o.cache ?? 'writeback';
  const options: BlockdevOptions =
    typeof o.node === 'string'
      ? {
          driver: 'raw',
          file: { driver: 'file', filename: o.node },
          cache: { direct: cache === 'none', 'no-flush': cache === 'unsafe' },
        }
      : o.node;
  const bs = await graph.openNode({ ...options, 'read-only': o.readOnly ?? false });
  const blk = BlockBackend.withNode(bs);
  return {
    blk,
    async close() {
      await blk.unref();
      bs.unref();
    },
  };
}
