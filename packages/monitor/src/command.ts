/**
 * QMP commands and the registry a monitor dispatches through (QEMU's QmpCommandList). A command
 * declares its arguments as a schema (see schema.ts); the handler receives them validated and
 * typed, and returns the `return` value (undefined means `{}`).
 */
import type { Machine } from '@vmkit/core';
import type { JsonObject } from './json/index.js';
import type { QmpMonitor } from './monitor.js';
import type { QmpArgsOf, QmpArgsSchema } from './schema.js';
import type { QmpSession } from './session.js';

/** What a handler may use besides its arguments. */
export interface QmpCommandContext {
  readonly machine: Machine;
  readonly monitor: QmpMonitor;
  /** The session the command came from. */
  readonly session: QmpSession;
  /** Members the schema does not name, for commands declared with `extraArgs`. */
  readonly rest: JsonObject;
  /** Runs `action` once the response has been sent (quit sends its reply before shutting down). */
  readonly afterResponse: (action: () => void | Promise<void>) => void;
}

export interface QmpCommand<S extends QmpArgsSchema = QmpArgsSchema, R = unknown> {
  readonly name: string;
  /** Argument schema; none means the command takes no arguments. */
  readonly args?: S;
  /** Accept arguments the schema does not name (QAPI `'gen': false`, flat unions); see ctx.rest. */
  readonly extraArgs?: boolean;
  /** Returns the `return` member; undefined is sent as `{}`. */
  run(args: QmpArgsOf<S>, ctx: QmpCommandContext): R | Promise<R>;
}

/** Identity helper that infers the schema, so `run` sees precisely typed arguments. */
export function defineCommand<const S extends QmpArgsSchema = Record<never, never>, R = unknown>(
  command: QmpCommand<S, R>,
): QmpCommand<S, R> {
  return command;
}

/** The commands a monitor knows, in registration order (query-commands lists them so). */
export class QmpCommandRegistry {
  readonly #commands = new Map<string, QmpCommand>();

  /** Adds a command; refuses a name already registered. */
  register(command: QmpCommand): this {
    if (this.#commands.has(command.name))
      throw new Error(`QMP command '${command.name}' is already registered`);
    this.#commands.set(command.name, command);
    return this;
  }

  /** Replaces (or adds) a command by name. */
  replace(command: QmpCommand): this {
    this.#commands.set(command.name, command);
    return this;
  }

  unregister(name: string): boolean {
    return this.#commands.delete(name);
  }

  get(name: string): QmpCommand | undefined {
    return this.#commands.get(name);
  }

  has(name: string): boolean {
    return this.#commands.has(name);
  }

  names(): string[] {
    return [...this.#commands.keys()];
  }
}
