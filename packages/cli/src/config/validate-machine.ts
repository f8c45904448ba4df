/**
 * Validation of the machine part of a config (objects, blockdevs, devices) against the types the
 * machine's plugins registered, before anything is created: JSON types, ids, references between
 * entries (a device's drive, iothread and throttle group; a blockdev's children) and device and
 * object properties with the rules of their schemas. Every problem is collected with its path.
 */
import {
  PropertyError,
  validateProperties,
  type LinkResolver,
  type PropertySchema,
  type PropertySpec,
} from '@vmkit/core';
import { parseXenBlockVdev } from '@vmkit/xen-block';
import { childPath, isObject, jsonType, quote, type IssueList } from './issues.js';
import {
  DISK_DEVICE_TYPES,
  type BlockdevSpec,
  type DeviceSpec,
  type DiskDeviceType,
  type ObjectSpec,
} from './types.js';

/** What the machine's plugins offer: object types, block drivers and disk device types. */
export interface MachineSchema {
  readonly objectTypes: ReadonlyMap<string, PropertySchema>;
  readonly blockDrivers: readonly string[];
  readonly deviceTypes: ReadonlyMap<DiskDeviceType, PropertySchema>;
}

const ID_RE = /^[A-Za-z][A-Za-z0-9_.-]*$/;
const ID_RULE = "ids start with a letter and contain only letters, digits, '-', '.' and '_'";
/** Blockdev options whose string value names another node (a child given by reference). */
const CHILD_KEYS = new Set(['file', 'image', 'backing', 'data-file']);
/** Keys of a device entry that are not device properties. */
const DEVICE_META_KEYS = new Set(['driver', 'id', 'throttle-group']);

function checkId(
  issues: IssueList,
  path: string,
  v: unknown,
  seen: Map<string, string>,
  what: string,
): string | undefined {
  if (v === undefined) {
    issues.add(path, 'required');
    return undefined;
  }
  if (typeof v !== 'string') {
    issues.add(path, `expected a string, got ${jsonType(v)}`);
    return undefined;
  }
  if (!ID_RE.test(v)) {
    issues.add(path, `${quote(v)}: ${ID_RULE}`);
    return undefined;
  }
  const other = seen.get(v);
  if (other !== undefined) {
    issues.add(path, `${what} '${v}' is already defined at ${other}`);
    return undefined;
  }
  seen.set(v, path.replace(/\.[^.]*$/, ''));
  return v;
}

function listOf(issues: IssueList, path: string, v: unknown): readonly unknown[] {
  if (v === undefined) return [];
  if (!Array.isArray(v)) {
    issues.add(path, `expected a list, got ${jsonType(v)}`);
    return [];
  }
  return v;
}

/** `objects`: `{"qom-type": "iothread", "id": "io0", ...properties}`. */
export function validateObjects(issues: IssueList, schema: MachineSchema, v: unknown): ObjectSpec[] {
  const out: ObjectSpec[] = [];
  const ids = new Map<string, string>();
  listOf(issues, 'objects', v).forEach((entry, i) => {
    const path = childPath('objects', i);
    if (!isObject(entry)) return issues.add(path, `expected an object, got ${jsonType(entry)}`);
    const typeName = entry['qom-type'];
    let props: PropertySchema | undefined;
    if (typeName === undefined) issues.add(childPath(path, 'qom-type'), 'required');
    else if (typeof typeName !== 'string') {
      issues.add(childPath(path, 'qom-type'), `expected a string, got ${jsonType(typeName)}`);
    } else {
      props = schema.objectTypes.get(typeName);
      if (props === undefined) {
        issues.add(
          childPath(path, 'qom-type'),
          `unknown object type ${quote(typeName)} (known: ${[...schema.objectTypes.keys()].join(', ')})`,
        );
      }
    }
    const id = checkId(issues, childPath(path, 'id'), entry.id, ids, 'object');
    const properties: Record<string, unknown> = {};
    for (const [k, value] of Object.entries(entry)) if (k !== 'qom-type' && k !== 'id') properties[k] = value;
    if (props !== undefined) checkProperties(issues, path, props, properties, LENIENT_LINKS);
    if (id !== undefined && props !== undefined) out.push({ path, type: typeName as string, id, properties });
  });
  return out;
}

/** `blockdevs`: blockdev-add arguments; children by reference must be defined earlier. */
export function validateBlockdevs(issues: IssueList, schema: MachineSchema, v: unknown): BlockdevSpec[] {
  const out: BlockdevSpec[] = [];
  const names = new Map<string, string>();
  listOf(issues, 'blockdevs', v).forEach((entry, i) => {
    const path = childPath('blockdevs', i);
    if (!isObject(entry)) return issues.add(path, `expected an object, got ${jsonType(entry)}`);
    const driver = checkDriver(issues, schema, path, entry.driver);
    checkChildren(issues, path, entry, names);
    const nodeName = checkId(issues, childPath(path, 'node-name'), entry['node-name'], names, 'blockdev');
    if (driver !== undefined && nodeName !== undefined) out.push({ path, nodeName, driver, options: entry });
  });
  return out;
}

function checkDriver(issues: IssueList, schema: MachineSchema, path: string, v: unknown): string | undefined {
  const p = childPath(path, 'driver');
  if (v === undefined) issues.add(p, 'required');
  else if (typeof v !== 'string') issues.add(p, `expected a string, got ${jsonType(v)}`);
  else if (!schema.blockDrivers.includes(v)) {
    issues.add(p, `unknown block driver ${quote(v)} (known: ${schema.blockDrivers.join(', ')})`);
  } else return v;
  return undefined;
}

// Children given by node name must exist already (blockdev-add opens them by reference);
// children given inline are checked the same way, one level down.
function checkChildren(
  issues: IssueList,
  path: string,
  options: Record<string, unknown>,
  defined: ReadonlyMap<string, string>,
): void {
  for (const [key, value] of Object.entries(options)) {
    if (!CHILD_KEYS.has(key)) continue;
    const p = childPath(path, key);
    if (typeof value === 'string') {
      if (!defined.has(value)) issues.add(p, `no blockdev '${value}' defined before this one`);
    } else if (isObject(value)) {
      checkChildren(issues, p, value, defined);
    }
  }
}

// Links are checked by validateDevices itself (with messages naming the config's entries).
const LENIENT_LINKS: LinkResolver = { objectType: () => undefined, hasBlockdev: () => true };

/**
 * Checks each property on its own, so every broken one is reported (validateProperties stops at
 * the first). Unknown keys are reported with the list of known ones.
 */
function checkProperties(
  issues: IssueList,
  path: string,
  schema: PropertySchema,
  input: Readonly<Record<string, unknown>>,
  links: LinkResolver,
): void {
  for (const key of Object.keys(input)) {
    if (!Object.hasOwn(schema, key)) {
      issues.add(childPath(path, key), `unknown property (known: ${Object.keys(schema).join(', ')})`);
    }
  }
  for (const [name, spec] of Object.entries(schema)) {
    const given = Object.hasOwn(input, name) ? input[name] : undefined;
    if (given === undefined) {
      if (spec.required === true && spec.default === undefined) issues.add(childPath(path, name), 'required');
      continue;
    }
    if (spec.kind === 'link' && links === LENIENT_LINKS && typeof given === 'string') continue;
    const one: Record<string, PropertySpec> = { [name]: spec };
    try {
      validateProperties('', one, { [name]: given }, links);
    } catch (e) {
      if (!(e instanceof PropertyError)) throw e;
      const rule = spec.kind === 'link' && typeof given === 'string' ? e.rule : `${quote(given)}: ${e.rule}`;
      issues.add(childPath(path, name), rule);
    }
  }
}

/** `devices`: virtio-blk and xen-block devices with device_add's arguments (`driver`, `id`). */
export function validateDevices(
  issues: IssueList,
  schema: MachineSchema,
  v: unknown,
  objects: readonly ObjectSpec[],
  blockdevs: readonly BlockdevSpec[],
): DeviceSpec[] {
  const out: DeviceSpec[] = [];
  const ids = new Map<string, string>();
  const objectTypes = new Map(objects.map((o) => [o.id, o.type]));
  const nodeNames = new Set(blockdevs.map((b) => b.nodeName));
  const links: LinkResolver = {
    objectType: (id) => objectTypes.get(id),
    hasBlockdev: (id) => nodeNames.has(id),
  };
  const drives = new Map<string, string>();
  const vdevs = new Map<string, string>();
  listOf(issues, 'devices', v).forEach((entry, i) => {
    const path = childPath('devices', i);
    if (!isObject(entry)) return issues.add(path, `expected an object, got ${jsonType(entry)}`);
    const type = checkDeviceType(issues, schema, path, entry.driver);
    const id = checkId(issues, childPath(path, 'id'), entry.id, ids, 'device');
    if (entry.bus !== undefined) {
      issues.add(
        childPath(path, 'bus'),
        'vmkit run plugs devices itself (a virtio-mmio slot per virtio device, the Xen bus for xen-block)',
      );
    }
    const throttleGroup = checkThrottleGroup(issues, path, entry['throttle-group'], objectTypes);
    const properties: Record<string, unknown> = {};
    for (const [k, value] of Object.entries(entry)) {
      if (!DEVICE_META_KEYS.has(k) && k !== 'bus') properties[k] = value;
    }
    if (type === undefined) return;
    checkProperties(issues, path, schema.deviceTypes.get(type)!, properties, links);
    const drive = typeof properties.drive === 'string' ? properties.drive : undefined;
    if (drive !== undefined && id !== undefined) {
      const user = drives.get(drive);
      if (user !== undefined)
        issues.add(childPath(path, 'drive'), `blockdev '${drive}' is already the drive of device '${user}'`);
      else drives.set(drive, id);
    }
    let frontendId = 1;
    if (type === 'xen-block') {
      const fe = properties['frontend-id'];
      if (typeof fe === 'number') {
        if (fe < 1)
          issues.add(
            childPath(path, 'frontend-id'),
            `${fe}: the frontend must be a guest domain (1 or more)`,
          );
        else frontendId = fe;
      }
      const vdev = typeof properties.vdev === 'string' ? parseXenBlockVdev(properties.vdev) : undefined;
      if (vdev !== undefined && id !== undefined) {
        const key = `${frontendId}/${vdev.number}`;
        const user = vdevs.get(key);
        if (user !== undefined) {
          issues.add(
            childPath(path, 'vdev'),
            `${quote(properties.vdev)} is the same disk as device '${user}'s`,
          );
        } else vdevs.set(key, id);
      }
    }
    if (id !== undefined && drive !== undefined) {
      out.push({ path, type, id, drive, throttleGroup, frontendId, properties });
    }
  });
  return out;
}

function checkDeviceType(
  issues: IssueList,
  schema: MachineSchema,
  path: string,
  v: unknown,
): DiskDeviceType | undefined {
  const p = childPath(path, 'driver');
  if (v === undefined) issues.add(p, 'required');
  else if (typeof v !== 'string') issues.add(p, `expected a string, got ${jsonType(v)}`);
  else if (
    !(DISK_DEVICE_TYPES as readonly string[]).includes(v) ||
    !schema.deviceTypes.has(v as DiskDeviceType)
  ) {
    issues.add(p, `${quote(v)} is not a disk device vmkit run can drive (${DISK_DEVICE_TYPES.join(', ')})`);
  } else return v as DiskDeviceType;
  return undefined;
}

function checkThrottleGroup(
  issues: IssueList,
  path: string,
  v: unknown,
  objectTypes: ReadonlyMap<string, string>,
): string | undefined {
  if (v === undefined) return undefined;
  const p = childPath(path, 'throttle-group');
  if (typeof v !== 'string') {
    issues.add(p, `expected a string, got ${jsonType(v)}`);
    return undefined;
  }
  const type = objectTypes.get(v);
  if (type === undefined) issues.add(p, `no object '${v}'`);
  else if (type !== 'throttle-group') issues.add(p, `object '${v}' has type '${type}', not 'throttle-group'`);
  else return v;
  return undefined;
}
