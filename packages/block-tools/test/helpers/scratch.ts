/**
 * Shared setup of the spawned vmkit-io suites: a fresh scratch image per test and the timing
 * text that filterIo leaves in report lines.
 */
import { TempDir } from './tools.js';

/** The timing part of a report line after filterIo. */
export const FILTERED_TIMING = 'XX:XX:XX.X (XXX YYY/sec and XXX ops/sec)';

export interface Scratch {
  /** The test's temporary directory (removed after the test). */
  dir: TempDir;
  /** Path of `disk.img` in `dir`: 1 MiB of zeroes, opened as raw. */
  img: string;
}

/** Registers mocha hooks giving every test of the enclosing suite a new 1 MiB scratch image. */
export function useScratchImage(): Scratch {
  const scratch = {} as Scratch;
  beforeEach(() => {
    scratch.dir = new TempDir();
    scratch.img = scratch.dir.image('disk.img', 1024 * 1024);
  });
  afterEach(() => scratch.dir.cleanup());
  return scratch;
}
