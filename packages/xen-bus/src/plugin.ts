import { definePlugin, MACHINE, type Machine, type PluginContext } from '@vmkit/core';
import { XEN_EVENT_CHANNELS, XEN_FOREIGN_MEMORY, XEN_GRANT_TABLES, XEN_STORE } from './backend/tokens.js';
import { xenBridgeType, xenBusType } from './bus/xen-bridge.js';
import { InProcessXen } from './in-process/in-process-xen.js';

export const XEN_BUS_PLUGIN_NAME = 'xen-bus';

/** The machine's simulated hypervisor, bound when no other implementation of the interfaces is. */
export const IN_PROCESS_XEN: unique symbol = Symbol.for('vmkit:xen:in-process');

function bindDefault<T>(ctx: PluginContext, token: symbol, get: (xen: InProcessXen) => T): void {
  if (ctx.isBound(token)) return;
  ctx
    .bind<T>(token)
    .toDynamicValue((c) => get(c.get<InProcessXen>(IN_PROCESS_XEN)))
    .inSingletonScope();
}

/**
 * The xen-bus plugin: the `xen-bus` bus type, the `xen-bridge` device, and the four backend
 * interfaces. Each interface is bound to an InProcessXen (on the machine's main context, under
 * IN_PROCESS_XEN) unless already bound: a plugin loaded before this one that binds
 * XEN_EVENT_CHANNELS, XEN_GRANT_TABLES, XEN_FOREIGN_MEMORY and XEN_STORE replaces it (a
 * real-Xen implementation, say). Backend types are contributed with contributeXenBackendType.
 */
export const xenBusPlugin = definePlugin(XEN_BUS_PLUGIN_NAME, (ctx) => {
  ctx.busType(xenBusType);
  ctx.deviceType(xenBridgeType);
  ctx
    .bind<InProcessXen>(IN_PROCESS_XEN)
    .toDynamicValue((c) => new InProcessXen({ context: c.get<Machine>(MACHINE).mainContext }))
    .inSingletonScope();
  bindDefault(ctx, XEN_EVENT_CHANNELS, (xen) => xen.eventChannels);
  bindDefault(ctx, XEN_GRANT_TABLES, (xen) => xen.grantTables);
  bindDefault(ctx, XEN_FOREIGN_MEMORY, (xen) => xen.foreignMemory);
  bindDefault(ctx, XEN_STORE, (xen) => xen.store);
});
