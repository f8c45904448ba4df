export * from './acct-type.js';
export * from './cookie.js';
export * from './timed-average.js';
export * from './timed-stats.js';
export * from './latency-histogram.js';
export * from './stats.js';
export * from './qmp-types.js';
export * from './qmp.js';
