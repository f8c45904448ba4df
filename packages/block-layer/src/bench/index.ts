export { runBench, BENCH_DEFAULTS, type BenchOptions, type BenchResult } from './bench.js';
