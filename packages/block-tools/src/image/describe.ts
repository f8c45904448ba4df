/**
 * What the tools print about a node: protocol name, driver information (bdrv_get_info), the
 * format-specific dump (bdrv_image_info_specific_dump) and the `img info` node description with
 * its children (QEMU 8's bdrv_node_info_dump).
 */
import { Errno } from '@vmkit/core';
import { ChildRole, nodeFilename, type BlockDriverState, type DriverInfo } from '@vmkit/block-layer';

/**
 * The `protocol_name` QEMU drivers that can be named by a filename prefix have (file, null-co,
 * blkdebug); formats and plain filters have none.
 */
export function protocolName(bs: BlockDriverState): string | undefined {
  if (bs.driver.kind === 'protocol' || bs.driver.name === 'blkdebug') return bs.driver.name;
  return undefined;
}

/**
 * bdrv_get_info: the driver's information; filters without their own answer for their filtered
 * child; undefined (-ENOTSUP) when nobody knows.
 */
export function driverInfo(bs: BlockDriverState): DriverInfo | undefined {
  for (let n: BlockDriverState | null = bs; n !== null; n = n.filtered?.bs ?? null) {
    if (n.driver.info !== undefined) return n.driver.info(n);
  }
  return undefined;
}

function scalar(v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (v === null || v === undefined) return '';
  return JSON.stringify(v);
}

/** Format-specific information as indented `key: value` lines (4 spaces a level). */
export function formatSpecificLines(data: Readonly<Record<string, unknown>>, level: number): string[] {
  const pad = '    '.repeat(level);
  const out: string[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (Array.isArray(v)) {
      out.push(`${pad}${k}:`);
      v.forEach((e, i) => {
        if (typeof e === 'object' && e !== null) {
          out.push(`${pad}    [${i}]:`);
          out.push(...formatSpecificLines(e as Record<string, unknown>, level + 2));
        } else out.push(`${pad}    [${i}]: ${scalar(e)}`);
      });
    } else if (typeof v === 'object' && v !== null) {
      out.push(`${pad}${k}:`);
      out.push(...formatSpecificLines(v as Record<string, unknown>, level + 1));
    } else out.push(`${pad}${k}: ${scalar(v)}`);
  }
  return out;
}

/** ImageInfo of one node with its children, in the shape of QEMU 8's `qemu-img info --output=json`. */
export interface NodeImageInfo {
  children: Array<{ name: string; info: NodeImageInfo }>;
  'virtual-size': number;
  filename: string;
  'cluster-size'?: number;
  format: string;
  'actual-size'?: number;
  'format-specific'?: Readonly<Record<string, unknown>>;
  'dirty-flag': boolean;
}

/**
 * bdrv_get_allocated_file_size: the driver's answer; protocols without one do not know (-ENOTSUP);
 * filters answer for their filtered child; formats sum their data and metadata children.
 */
export async function allocatedFileSize(bs: BlockDriverState): Promise<number> {
  const drv = bs.driver;
  if (drv.getAllocatedFileSize !== undefined) return drv.getAllocatedFileSize(bs);
  if (drv.kind === 'protocol') return -Errno.ENOTSUP;
  const filtered = bs.filtered?.bs ?? null;
  if (drv.kind === 'filter' && filtered !== null) return allocatedFileSize(filtered);
  let sum = 0;
  for (const c of bs.children) {
    if (c.bs === null || !(c.role & (ChildRole.DATA | ChildRole.METADATA | ChildRole.FILTERED))) continue;
    const n = await allocatedFileSize(c.bs);
    if (n < 0) return n;
    sum += n;
  }
  return sum;
}

/** Collects the ImageInfo of `bs` and, recursively, of its children. */
export async function nodeImageInfo(bs: BlockDriverState): Promise<NodeImageInfo> {
  const children: NodeImageInfo['children'] = [];
  // Children are kept newest first; QEMU lists them in attachment order.
  for (const c of [...bs.children].reverse()) {
    if (c.bs !== null) children.push({ name: c.name, info: await nodeImageInfo(c.bs) });
  }
  const info: NodeImageInfo = {
    children,
    'virtual-size': bs.totalBytes,
    filename: nodeFilename(bs),
    format: bs.driver.name,
    'dirty-flag': false,
  };
  const di = bs.driver.info?.(bs);
  if (di?.clusterSize) info['cluster-size'] = di.clusterSize;
  const actual = await allocatedFileSize(bs);
  if (actual >= 0) info['actual-size'] = actual;
  if (di?.formatSpecific !== undefined) info['format-specific'] = di.formatSpecific;
  // Property order as QEMU prints it: children first, dirty-flag last.
  const { 'dirty-flag': dirty, ...rest } = info;
  return { ...rest, 'dirty-flag': dirty };
}
