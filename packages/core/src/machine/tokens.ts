/**
 * Well-known inversify service identifiers. Contributions (device types, bus types, object types,
 * block drivers) are bound by plugins to the first four as `Contribution` records, so registries can
 * name the plugin behind each one; `MACHINE` and `BLOCK_LAYER` are services.
 *
 * `Symbol.for` keeps the tokens identical if two copies of @vmkit/core end up loaded.
 */

/** `Contribution<DeviceType>` records (multi-bound). */
export const DEVICE_TYPE: unique symbol = Symbol.for('vmkit:DeviceType');
/** `Contribution<BusType>` records (multi-bound). */
export const BUS_TYPE: unique symbol = Symbol.for('vmkit:BusType');
/** `Contribution<ObjectType>` records (multi-bound). */
export const OBJECT_TYPE: unique symbol = Symbol.for('vmkit:ObjectType');
/** `Contribution<BlockDriverContribution>` records (multi-bound). */
export const BLOCK_DRIVER: unique symbol = Symbol.for('vmkit:BlockDriver');
/** The `Machine` that owns the container (also bound under the `Machine` class itself). */
export const MACHINE: unique symbol = Symbol.for('vmkit:Machine');
/** The `BlockLayerService` implementation, bound by the block-layer plugin. */
export const BLOCK_LAYER: unique symbol = Symbol.for('vmkit:BlockLayer');

/** What a plugin binds to a contribution token: the contributed value and the plugin's name. */
export interface Contribution<T> {
  readonly plugin: string;
  readonly value: T;
}
