/** User-creatable objects (qom/qom-qmp-cmds.c, qom/object_interfaces.c): object-add, object-del. */
import type { Machine } from '@vmkit/core';
import { defineCommand, type QmpCommand } from '../command.js';
import { QmpError } from '../errors.js';

/**
 * object-add: `qom-type` is the discriminator of the ObjectOptions union, so it is an enum of the
 * machine's object types; the type's properties come inline.
 */
export function objectAddCommand(machine: Machine): QmpCommand {
  return defineCommand({
    name: 'object-add',
    args: { 'qom-type': { enum: machine.objectTypes() }, id: 'str' },
    extraArgs: true,
    run(args, { rest }) {
      machine.objectAdd({ ...rest, type: args['qom-type'], id: args.id });
    },
  });
}

export const objectDelCommand = defineCommand({
  name: 'object-del',
  args: { id: 'str' },
  run(args, { machine }) {
    if (!machine.hasObject(args.id)) throw QmpError.generic(`object '${args.id}' not found`);
    machine.objectDel(args.id);
  },
});

export function qomCommands(machine: Machine): readonly QmpCommand[] {
  return [objectAddCommand(machine), objectDelCommand];
}
