#!/usr/bin/env node
/** The vmkit-storage-daemon command (see @vmkit/storage-daemon README). */
import { runStorageDaemon } from '../main.js';

runStorageDaemon(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(
      `vmkit-storage-daemon: internal error: ${e instanceof Error ? e.message : String(e)}\n`,
    );
    process.exit(1);
  },
);
