/**
 * `--blockdev` and `--object` values: QEMU's key=value syntax turned into what
 * `machine.blockdevAdd()` and `machine.objectAdd()` take. Their checks (drivers, node names,
 * property rules) are the machine's; only the shape of the command line is checked here.
 */
import { ConfigError, type BlockdevOptions, type ObjectAddOptions } from '@vmkit/core';
import { normaliseBlockdevTree } from '@vmkit/block-tools';
import { isOptionTree, parseKeyval, type OptionValue } from './keyval.js';

/**
 * `--blockdev [driver=]DRIVER,node-name=N,...`: blockdev-add options, with the generic boolean
 * keys (`read-only`, `cache.direct`, ...) turned into booleans as `vmkit-img --image-opts` does.
 */
export function parseBlockdevOptions(text: string): BlockdevOptions {
  const tree = normaliseBlockdevTree(parseKeyval(text, 'driver'));
  const driver = tree.driver;
  if (driver === undefined) throw new ConfigError("Parameter 'driver' is missing");
  if (typeof driver !== 'string')
    throw new ConfigError("Invalid parameter type for 'driver', expected: string");
  return { ...tree, driver };
}

/** QEMU's `limits.<name>` spelling of a throttle group's limits, as the object's `x-<name>` properties. */
function throttleLimitsAsProperties(limits: OptionValue, into: Record<string, OptionValue>): void {
  if (!isOptionTree(limits)) throw new ConfigError("Invalid parameter type for 'limits', expected: dict");
  for (const [key, value] of Object.entries(limits)) {
    if (isOptionTree(value)) throw new ConfigError(`Parameter 'limits.${key}' is unexpected`);
    into[`x-${key}`] = value;
  }
}

/** `--object TYPE,id=ID,prop=value,...`: object-add options (`qom-type` is `type`). */
export function parseObjectOptions(text: string): ObjectAddOptions {
  const tree = parseKeyval(text, 'qom-type');
  const { 'qom-type': type, id, ...rest } = tree;
  if (type === undefined) throw new ConfigError("Parameter 'qom-type' is missing");
  if (typeof type !== 'string')
    throw new ConfigError("Invalid parameter type for 'qom-type', expected: string");
  if (id === undefined) throw new ConfigError("Parameter 'id' is missing");
  if (typeof id !== 'string') throw new ConfigError("Invalid parameter type for 'id', expected: string");
  const props: Record<string, OptionValue> = {};
  for (const [key, value] of Object.entries(rest)) {
    if (key === 'limits' && type === 'throttle-group') throttleLimitsAsProperties(value, props);
    else if (isOptionTree(value) || Array.isArray(value)) {
      throw new ConfigError(`Parameter '${key}' is unexpected (object properties are not nested)`);
    } else props[key] = value;
  }
  return { ...props, type, id };
}
