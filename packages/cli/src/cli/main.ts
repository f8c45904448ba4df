/** `vmkit COMMAND [ARGS]`: the command-line entry (one command so far: `run`). */
import { vmkitRun, type RunIo } from './run.js';

export const VMKIT_CLI_VERSION = '0.1.0';

const USAGE = `usage: vmkit COMMAND [ARGS]

Commands:
  run [CONFIG]   build a machine from a JSON config and drive its disks with an fio-like workload
                 (without CONFIG: the embedded default; see 'vmkit run --help')

  -h, --help     this help
  -V, --version  the version
`;

/** Runs `vmkit` with `argv` (without the program name); resolves to the exit status. */
export async function vmkitMain(argv: readonly string[], io: RunIo): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return vmkitRun(rest, io);
    case '-h':
    case '--help':
      io.stdout(USAGE);
      return 0;
    case '-V':
    case '--version':
      io.stdout(`vmkit ${VMKIT_CLI_VERSION}\n`);
      return 0;
    case undefined:
      io.stderr(`vmkit: missing command\n${USAGE}`);
      return 1;
    default:
      io.stderr(`vmkit: unknown command '${cmd}'\nTry 'vmkit --help' for more information.\n`);
      return 1;
  }
}
