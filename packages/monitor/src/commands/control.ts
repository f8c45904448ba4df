/**
 * Monitor control commands (monitor/qmp-cmds-control.c, system/runstate.c qmp_quit):
 * qmp_capabilities, query-commands, query-version, quit.
 */
import { defineCommand, type QmpCommand } from '../command.js';
import { QmpError } from '../errors.js';
import type { QmpVersionInfo } from '../monitor.js';

/** Capabilities the client may ask for (QMPCapability); none is offered by this monitor. */
const CAPABILITIES = ['oob'] as const;

export const qmpCapabilitiesCommand = defineCommand({
  name: 'qmp_capabilities',
  args: { '*enable': [{ enum: CAPABILITIES }] },
  run(args, { session }) {
    if (session.negotiated) {
      throw new QmpError('CommandNotFound', 'Capabilities negotiation is already complete, command ignored');
    }
    // qmp_caps_accept: the greeting offered nothing, so any capability asked for is unavailable.
    const unavailable = args.enable ?? [];
    if (unavailable.length > 0) throw QmpError.generic(`Capability ${unavailable.join(', ')} not available`);
    session.enterCommandMode();
  },
});

/** CommandInfo. */
export interface QmpCommandInfo {
  readonly name: string;
}

export const queryCommandsCommand = defineCommand({
  name: 'query-commands',
  run(_args, { monitor }): QmpCommandInfo[] {
    return monitor.commands.names().map((name) => ({ name }));
  },
});

export const queryVersionCommand = defineCommand({
  name: 'query-version',
  run(_args, { monitor }): QmpVersionInfo {
    return monitor.version;
  },
});

/** quit: answers, then SHUTDOWN {guest: false, reason: host-qmp-quit}, the sessions close, onQuit runs. */
export const quitCommand = defineCommand({
  name: 'quit',
  run(_args, { monitor, afterResponse }) {
    afterResponse(() => monitor.shutdown('host-qmp-quit'));
  },
});

export const controlCommands: readonly QmpCommand[] = [
  qmpCapabilitiesCommand,
  queryCommandsCommand,
  queryVersionCommand,
  quitCommand,
];
