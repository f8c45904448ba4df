import type { BlockDriverState, BlockdevOptions } from '../../src/index.js';
import { newGraph, state, type TestLimits } from './test-driver.js';

/** A `test`-driver node with the given limits (a fresh graph per node). */
export async function testNode(
  limits: TestLimits = {},
  opts: Partial<BlockdevOptions> = {},
  size = 65536,
): Promise<BlockDriverState> {
  const { graph } = newGraph();
  const bs = await graph.openNode({ driver: 'test', 'node-name': 'n', size, ...opts });
  state(bs).limits = limits;
  graph.refreshLimitsUp(bs);
  return bs;
}

export function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 0xff;
  return b;
}
