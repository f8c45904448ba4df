/** Contributions every machine has: the system bus type and the iothread object type. */

import type { BusType } from './device.js';
import { iothreadObjectType } from './objects.js';
import { CORE_PLUGIN_NAME, definePlugin } from './plugin.js';

/** QEMU's TYPE_SYSTEM_BUS; the machine creates one instance, also named 'sysbus'. */
export const sysbusType: BusType = { name: 'sysbus', description: 'the system bus of the machine' };

/** Loaded first by every machine (not to be listed in `plugins`). */
export const corePlugin = definePlugin(CORE_PLUGIN_NAME, (ctx) => {
  ctx.busType(sysbusType);
  ctx.objectType(iothreadObjectType);
});
