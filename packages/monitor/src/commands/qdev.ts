/** Device commands (system/qdev-monitor.c): device_add, device_del. */
import { defineCommand, type QmpCommand } from '../command.js';
import { QmpError } from '../errors.js';

/** device_add: `driver`, `bus`, `id` and the device's properties inline ('gen': false). */
export const deviceAddCommand = defineCommand({
  name: 'device_add',
  args: { driver: 'str', '*bus': 'str', '*id': 'str' },
  extraArgs: true,
  async run(args, { machine, rest }) {
    if (!machine.deviceTypes().includes(args.driver)) {
      throw QmpError.generic(`'${args.driver}' is not a valid device model name`);
    }
    const { driver, ...common } = args;
    await machine.deviceAdd({ ...rest, ...common, type: driver, id: common.id as string });
  },
});

/** device_del: DeviceNotFound for an unknown id; DEVICE_DELETED follows the unplug. */
export const deviceDelCommand = defineCommand({
  name: 'device_del',
  args: { id: 'str' },
  async run(args, { machine }) {
    if (!machine.hasDevice(args.id)) throw new QmpError('DeviceNotFound', `Device '${args.id}' not found`);
    await machine.deviceDel(args.id);
  },
});

export const qdevCommands: readonly QmpCommand[] = [deviceAddCommand, deviceDelCommand];
