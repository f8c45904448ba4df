/** Run state commands (monitor/qmp-cmds.c, system/runstate.c): query-status, stop, cont. */
import { BlockLayer } from '@vmkit/block-layer';
import type { Machine } from '@vmkit/core';
import { defineCommand, type QmpCommand } from '../command.js';

/** The RunState values a vmkit machine can be in. */
export type QmpRunState = 'running' | 'paused' | 'io-error';

/** StatusInfo. `singlestep` is always false (QEMU 8 still reports the deprecated member). */
export interface QmpStatusInfo {
  readonly running: boolean;
  readonly singlestep: boolean;
  readonly status: QmpRunState;
}

export function statusInfo(machine: Machine): QmpStatusInfo {
  const running = machine.runState === 'running';
  const status: QmpRunState = running ? 'running' : machine.stopReason === 'io-error' ? 'io-error' : 'paused';
  return { running, singlestep: false, status };
}

export const queryStatusCommand = defineCommand({
  name: 'query-status',
  run(_args, { machine }): QmpStatusInfo {
    return statusInfo(machine);
  },
});

/** stop: vm_stop(RUN_STATE_PAUSED); the STOP event goes out before the reply. */
export const stopCommand = defineCommand({
  name: 'stop',
  async run(_args, { machine }) {
    await machine.stop('user');
  },
});

/** cont: every BlockBackend's iostatus is reset first (qmp_cont), then vm_start. */
export const contCommand = defineCommand({
  name: 'cont',
  run(_args, { machine }) {
    const layer = machine.blockLayer;
    if (layer instanceof BlockLayer) for (const blk of layer.backends.backends()) blk.iostatusReset();
    machine.cont();
  },
});

export const runStateCommands: readonly QmpCommand[] = [queryStatusCommand, stopCommand, contCommand];
