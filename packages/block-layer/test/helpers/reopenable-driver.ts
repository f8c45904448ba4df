/** `reopenable`: a protocol driver whose `size` can change by reopen, for reopen-transaction tests. */
import { ConfigError } from '@vmkit/core';
import type { BlockDriver } from '../../src/index.js';

export interface ReopenableState {
  size: number;
  /** 'prepare <size>', 'commit' and 'abort', in the order the reopen hooks ran. */
  log: string[];
}

/** Size 13 is refused by prepare, so a test can make one node of a transaction fail. */
export const reopenableDriver: BlockDriver<ReopenableState, { size: number }> = {
  name: 'reopenable',
  kind: 'protocol',
  parseOptions: (o) => ({ size: (o.size as number | undefined) ?? 4096 }),
  open(bs, o) {
    bs.opaque = { size: o.size, log: [] };
  },
  getLength: (bs) => bs.opaque.size,
  preadv: () => 0,
  pwritev: () => 0,
  reopenPrepare(state) {
    const size = (state.options.size as number | undefined) ?? 4096;
    state.bs.opaque.log.push(`prepare ${size}`);
    if (size === 13) throw new ConfigError('size 13 is unlucky');
    state.driverState = size;
  },
  reopenCommit(state) {
    state.bs.opaque.log.push('commit');
    state.bs.opaque.size = state.driverState as number;
  },
  reopenAbort(state) {
    state.bs.opaque.log.push('abort');
  },
};
