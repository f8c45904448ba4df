import type { Machine } from '@vmkit/core';
import type { QmpCommand } from '../command.js';
import { blockCommands } from './block.js';
import { controlCommands } from './control.js';
import { qdevCommands } from './qdev.js';
import { qomCommands } from './qom.js';
import { runStateCommands } from './run-state.js';

export * from './block.js';
export * from './control.js';
export * from './qdev.js';
export * from './qom.js';
export * from './run-state.js';

/** Every built-in command, for `machine` (object-add's qom-type enum lists its object types). */
export function builtinCommands(machine: Machine): QmpCommand[] {
  return [
    ...controlCommands,
    ...runStateCommands,
    ...blockCommands,
    ...qdevCommands,
    ...qomCommands(machine),
  ];
}
