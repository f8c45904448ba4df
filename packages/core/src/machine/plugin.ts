/**
 * Plugins: named inversify ContainerModules. `definePlugin` hands the register function a context
 * that binds contributions as `Contribution` records carrying the plugin's name (so duplicates can
 * be reported with both plugins), plus inversify's own bind/isBound/... for services.
 */

import { ContainerModule, type Container, type ContainerModuleLoadOptions } from 'inversify';
import { ConfigError } from '../errors.js';
import type { BlockDriverContribution } from './block-layer.js';
import type { BusType, DeviceType } from './device.js';
import type { ObjectType } from './objects.js';
import type { PropertySchema } from './properties.js';
import { BLOCK_DRIVER, BUS_TYPE, DEVICE_TYPE, OBJECT_TYPE, type Contribution } from './tokens.js';

/** The built-in plugin's name, which no other plugin may take. */
export const CORE_PLUGIN_NAME = 'core';

/** What a plugin's register function receives. */
export interface PluginContext extends ContainerModuleLoadOptions {
  /** This plugin's name. */
  readonly plugin: string;
  deviceType<const S extends PropertySchema>(type: DeviceType<S>): void;
  busType(type: BusType): void;
  objectType<const S extends PropertySchema, T>(type: ObjectType<S, T>): void;
  /** Block drivers are declared here minimally; @vmkit/block-layer defines their real interface. */
  blockDriver<D extends BlockDriverContribution>(driver: D): void;
}

export type PluginRegister = (ctx: PluginContext) => void | Promise<void>;

export interface PluginOptions {
  /** Plugins that must be loaded before this one (their services may be injected into ours). */
  readonly dependencies?: readonly string[];
}

/** A plugin: `Machine.create({ plugins })` loads its module into the machine's container. */
export interface VmkitPlugin {
  readonly name: string;
  readonly dependencies: readonly string[];
  readonly module: ContainerModule;
}

function contribute<T>(options: ContainerModuleLoadOptions, token: symbol, plugin: string, value: T): void {
  options.bind<Contribution<T>>(token).toConstantValue(Object.freeze({ plugin, value }));
}

/** Defines a plugin named `name` whose `register` binds its contributions and services. */
export function definePlugin(
  name: string,
  register: PluginRegister,
  options: PluginOptions = {},
): VmkitPlugin {
  if (typeof name !== 'string' || name === '') throw new ConfigError('a plugin needs a non-empty name');
  const dependencies = Object.freeze([...(options.dependencies ?? [])]);
  const module = new ContainerModule(async (load) => {
    const ctx: PluginContext = {
      plugin: name,
      bind: load.bind,
      isBound: load.isBound,
      onActivation: load.onActivation,
      onDeactivation: load.onDeactivation,
      rebind: load.rebind,
      rebindAsync: load.rebindAsync,
      unbind: load.unbind,
      unbindAsync: load.unbindAsync,
      deviceType: (type) => contribute(load, DEVICE_TYPE, name, type),
      busType: (type) => contribute(load, BUS_TYPE, name, type),
      objectType: (type) => contribute(load, OBJECT_TYPE, name, type),
      blockDriver: (driver) => contribute(load, BLOCK_DRIVER, name, driver),
    };
    await register(ctx);
  });
  return Object.freeze({ name, dependencies, module });
}

/**
 * Loads the built-in plugin, then the user's plugins in order, into `container`, checking names and
 * dependencies before each load. Returns the names loaded.
 */
export async function loadPlugins(
  container: Container,
  builtin: VmkitPlugin,
  userPlugins: readonly VmkitPlugin[],
): Promise<string[]> {
  const plugins = [builtin, ...userPlugins];
  const loaded: string[] = [];
  for (const [i, plugin] of plugins.entries()) {
    if (
      typeof plugin !== 'object' ||
      plugin === null ||
      typeof (plugin.module as Partial<ContainerModule> | undefined)?.load !== 'function'
    ) {
      throw new ConfigError(`plugins[${i - 1}] is not a plugin (make one with definePlugin)`);
    }
    if (loaded.includes(plugin.name)) {
      throw new ConfigError(
        plugin.name === builtin.name
          ? `plugin name '${builtin.name}' is reserved for the built-in plugin`
          : `plugin '${plugin.name}' is loaded twice`,
      );
    }
    for (const dependency of plugin.dependencies) {
      if (loaded.includes(dependency)) continue;
      const later = plugins.slice(i + 1).some((p) => p.name === dependency);
      throw new ConfigError(
        `plugin '${plugin.name}' depends on plugin '${dependency}', which ${
          later ? 'must come before it in the plugin list' : 'is not in the plugin list'
        }`,
      );
    }
    try {
      await container.loadAsync(plugin.module);
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      throw new ConfigError(`plugin '${plugin.name}' failed to load: ${message}`, { cause: e });
    }
    loaded.push(plugin.name);
  }
  return loaded;
}
