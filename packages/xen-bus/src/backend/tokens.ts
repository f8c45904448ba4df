/** Inversify tokens of the four backend interfaces; devices get only these from the container. */
export const XEN_EVENT_CHANNELS: unique symbol = Symbol.for('vmkit:xen:event-channels');
export const XEN_GRANT_TABLES: unique symbol = Symbol.for('vmkit:xen:grant-tables');
export const XEN_FOREIGN_MEMORY: unique symbol = Symbol.for('vmkit:xen:foreign-memory');
export const XEN_STORE: unique symbol = Symbol.for('vmkit:xen:store');
