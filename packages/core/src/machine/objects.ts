/**
 * User-creatable objects (QEMU's -object / object-add): iothreads here, throttle groups from the
 * block layer. Object types are contributed by plugins like device types.
 */

import { IOThread } from '../loop/index.js';
import type { Machine } from './machine.js';
import type { PropertySchema, PropertyValue, PropertyValues } from './properties.js';

export interface ObjectContext {
  readonly machine: Machine;
  readonly id: string;
}

/** A user-creatable object type; `T` is the instance type. */
export interface ObjectType<S extends PropertySchema = PropertySchema, T = unknown> {
  readonly name: string;
  readonly properties: S;
  readonly description?: string;
  /** user_creatable_complete: builds the object from validated properties. */
  create(props: PropertyValues<S>, ctx: ObjectContext): T;
  /** Why the object cannot be deleted now (user_creatable_can_be_deleted), or undefined. */
  inUse?(instance: T): string | undefined;
  /** Releases the object when it is deleted. */
  delete?(instance: T): void;
}

/** Identity helper that infers the schema and instance type. */
export function defineObjectType<const S extends PropertySchema, T>(
  type: ObjectType<S, T>,
): ObjectType<S, T> {
  return type;
}

export interface ObjectInfo<T = unknown> {
  readonly id: string;
  readonly type: string;
  readonly instance: T;
  readonly properties: Readonly<Record<string, PropertyValue | undefined>>;
}

/** `objectAdd` options: QEMU's object-add arguments (`qom-type` is called `type`). */
export interface ObjectAddOptions {
  readonly type: string;
  readonly id: string;
  readonly [property: string]: unknown;
}

/**
 * `-object iothread,id=io0`: an IOThread on the machine's clock. The polling knobs are accepted for
 * compatibility with QEMU configurations; the logical event loop has no polling phase.
 */
export const iothreadObjectType = defineObjectType({
  name: 'iothread',
  description: 'a named AioContext that runs device dataplanes',
  properties: {
    'poll-max-ns': { kind: 'int', min: 0, default: 32768 },
    'poll-grow': { kind: 'int', min: 0, default: 0 },
    'poll-shrink': { kind: 'int', min: 0, default: 0 },
    'aio-max-batch': { kind: 'int', min: 0, default: 0 },
  },
  create(_props, ctx): IOThread {
    return new IOThread(ctx.id, ctx.machine.clock);
  },
});
