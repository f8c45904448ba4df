/**
 * The kinds of operation block accounting tells apart (include/block/accounting.h `BlockAcctType`).
 * The numeric values index the per-type counter arrays, so they are kept dense and in QEMU's order.
 */
export const BlockAcctType = {
  NONE: 0,
  READ: 1,
  WRITE: 2,
  FLUSH: 3,
  ZONE_APPEND: 4,
  UNMAP: 5,
} as const;

export type BlockAcctType = (typeof BlockAcctType)[keyof typeof BlockAcctType];

/** Number of accounting types (QEMU `BLOCK_MAX_IOTYPE`): the length of every per-type array. */
export const BLOCK_MAX_IOTYPE = 6;

/**
 * The latency QEMU charges for every completed operation when it runs under qtest
 * (`qtest_latency_ns` in block/accounting.c: one second / 1000). Pass it as
 * `fixedLatencyNs` to get the numbers iotest 136 expects.
 */
export const QTEST_LATENCY_NS = 1_000_000;
