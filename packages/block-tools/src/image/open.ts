/**
 * Opening an image for the tools: from a filename (`-f raw disk.img`, pseudo-protocols
 * `blkdebug:conf:disk.img`, `null-co://`, `file:disk.img`, `json:{...}`) or from an option string
 * (`--image-opts driver=raw,file.filename=disk.img`), into a node graph with a BlockBackend on top
 * (QEMU's blk_new_open). The tools use a BlockGraph of their own with the built-in drivers rather
 * than a Machine: they need no devices, objects or run state.
 */
import { ConfigError } from '@vmkit/core';
import {
  BlockBackend,
  BlockGraph,
  builtinDrivers,
  type AnyBlockDriver,
  type BlockDriverState,
  type BlockdevOptions,
} from '@vmkit/block-layer';
import {
  crumple,
  isOptionTree,
  mergeMissing,
  normaliseBlockdevTree,
  parseOptionString,
  type OptionTree,
  type OptionValue,
} from '../common/options.js';

/**
 * A new graph with every driver block-layer ships (the set its machine plugin contributes) and
 * any extra ones, e.g. from other plugins.
 */
export function createGraph(extraDrivers: readonly AnyBlockDriver[] = []): BlockGraph {
  return new BlockGraph({ drivers: [...builtinDrivers(), ...extraDrivers] });
}

/** Host cache handling (`-t`/`-n`; bdrv_parse_cache_mode). */
export interface CacheSetting {
  /** O_DIRECT (cache.direct). */
  readonly direct: boolean;
  /** Flushes ignored (cache.no-flush, cache=unsafe). */
  readonly noFlush: boolean;
  /** The BlockBackend's write cache is off: every write is FUA. */
  readonly writethrough: boolean;
}

export type CacheMode = 'none' | 'off' | 'directsync' | 'writeback' | 'writethrough' | 'unsafe';

/** bdrv_parse_cache_mode; undefined for an unknown mode. */
export function parseCacheMode(mode: string): CacheSetting | undefined {
  switch (mode) {
    case 'none':
    case 'off':
      return { direct: true, noFlush: false, writethrough: false };
    case 'directsync':
      return { direct: true, noFlush: false, writethrough: true };
    case 'writeback':
      return { direct: false, noFlush: false, writethrough: false };
    case 'unsafe':
      return { direct: false, noFlush: true, writethrough: false };
    case 'writethrough':
      return { direct: false, noFlush: false, writethrough: true };
    default:
      return undefined;
  }
}

/** bdrv_parse_discard_flags; undefined for an unknown mode. */
export function parseDiscardMode(mode: string): 'unmap' | 'ignore' | undefined {
  if (mode === 'on' || mode === 'unmap') return 'unmap';
  if (mode === 'off' || mode === 'ignore') return 'ignore';
  return undefined;
}

/** What to open and how. */
export interface OpenRequest {
  /** A filename, or with `imageOpts` an option string. */
  readonly filename?: string;
  readonly imageOpts?: boolean;
  /** `-f FMT`. */
  readonly format?: string;
  /** Extra options (`open -o`), merged under those from the filename. */
  readonly options?: OptionTree;
  readonly readOnly?: boolean;
  readonly cache?: CacheSetting;
  readonly discard?: 'unmap' | 'ignore';
  /** Share all permissions with other users (-U). */
  readonly forceShare?: boolean;
  /** `-i AIO`: the AIO mode of every `file` node (qemu-img's BDRV_O_NATIVE_AIO / BDRV_O_IO_URING). */
  readonly aio?: AioMode;
}

/** Options for openNode plus the warnings QEMU would print while building them. */
export interface ResolvedOptions {
  readonly options: BlockdevOptions;
  readonly warnings: string[];
}

/** The options a protocol filename stands for (bdrv_find_protocol + the driver's parse_filename). */
export function protocolOptions(filename: string): OptionTree {
  if (filename.startsWith('blkdebug:')) {
    // blkdebug:[config-file]:image
    const rest = filename.slice('blkdebug:'.length);
    const colon = rest.indexOf(':');
    if (colon < 0) throw new ConfigError('Invalid filename: blkdebug:[config]:image expected');
    const config = rest.slice(0, colon);
    const tree: OptionTree = { driver: 'blkdebug', image: protocolOptions(rest.slice(colon + 1)) };
    if (config !== '') tree.config = config;
    return tree;
  }
  if (filename.startsWith('null-co://')) return { driver: 'null-co' };
  if (filename.startsWith('file:')) return { driver: 'file', filename: filename.slice('file:'.length) };
  return { driver: 'file', filename };
}

function jsonTree(filename: string): OptionTree {
  let parsed: unknown;
  try {
    parsed = JSON.parse(filename.slice('json:'.length));
  } catch (e) {
    throw new ConfigError(`Could not parse the JSON options: ${(e as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError('Invalid JSON object given');
  }
  // Dotted keys inside the JSON object are allowed too (qdict_flatten, then crumple).
  const pairs: Array<[string, OptionValue]> = [];
  const walk = (prefix: string, obj: OptionTree): void => {
    for (const [k, v] of Object.entries(obj)) {
      if (isOptionTree(v)) walk(`${prefix}${k}.`, v);
      else pairs.push([`${prefix}${k}`, v]);
    }
  };
  walk('', parsed as OptionTree);
  return crumple(pairs);
}

/** `-i` values (bdrv_parse_aio). */
export type AioMode = 'threads' | 'native' | 'io_uring';

export function parseAioMode(mode: string): AioMode | undefined {
  return mode === 'threads' || mode === 'native' || mode === 'io_uring' ? mode : undefined;
}

/** Sets `aio` on every `file` protocol node of the tree that does not set it itself. */
function applyAio(tree: OptionTree, aio: AioMode): void {
  if (tree.driver === 'file' && tree.aio === undefined) tree.aio = aio;
  for (const key of CHILD_KEYS) {
    const child = tree[key];
    if (isOptionTree(child)) applyAio(child, aio);
  }
}

/** Option keys naming a child node. */
const CHILD_KEYS = ['file', 'image', 'backing'];

/**
 * A child given only as `filename` (`file.filename=x.img`, `image.filename=...`) gets its protocol
 * driver from the filename, as QEMU's protocol probing does.
 */
function resolveChildFilenames(tree: OptionTree): void {
  for (const key of CHILD_KEYS) {
    const child = tree[key];
    if (!isOptionTree(child)) continue;
    if (child.driver === undefined && typeof child.filename === 'string') {
      const name = child.filename;
      delete child.filename;
      mergeMissing(child, protocolOptions(name));
    }
    resolveChildFilenames(child);
  }
}

/**
 * Builds the blockdev options for `req` (bdrv_open's option handling): the driver from -f or the
 * options, the filename given to the protocol layer (the `file` child of a format driver), the
 * generic flags (read-only, cache, discard) on the top node, from which children inherit them.
 */
export function resolveOpenOptions(req: OpenRequest, graph: BlockGraph): ResolvedOptions {
  const warnings: string[] = [];
  let tree: OptionTree = {};
  let filename: string | undefined;
  if (req.imageOpts) {
    if (req.format !== undefined) throw new ConfigError('--image-opts and -f are mutually exclusive');
    if (req.filename !== undefined) tree = parseOptionString(req.filename, 'file');
    // An implied `file=...` of --image-opts names the protocol layer's file.
    const implied = tree.file;
    if (typeof implied === 'string' && tree.driver === undefined) {
      delete tree.file;
      filename = implied;
    }
  } else if (req.filename?.startsWith('json:')) {
    tree = jsonTree(req.filename);
  } else {
    filename = req.filename;
  }
  if (req.options !== undefined) mergeMissing(tree, req.options);
  if (req.format !== undefined) {
    if (typeof tree.driver === 'string' && tree.driver !== req.format) {
      throw new ConfigError(`Cannot use format '${req.format}' with driver '${tree.driver}'`);
    }
    tree.driver = req.format;
  }
  if (typeof tree.filename === 'string' && filename === undefined) {
    const name = tree.filename;
    const drv = typeof tree.driver === 'string' ? graph.driver(tree.driver) : undefined;
    if (drv === undefined || drv.kind === 'format') {
      delete tree.filename;
      filename = name;
    }
  }
  if (tree.driver === undefined) {
    if (filename === undefined && tree.file === undefined) {
      throw new ConfigError('A block device must be specified for "file"');
    }
    // Format probing: vmkit has no format with a header, so raw is the only guess.
    tree.driver = 'raw';
    warnings.push(
      `WARNING: Image format was not specified for '${filename ?? ''}' and probing guessed raw.\n` +
        "         Specify the 'raw' format explicitly to remove this warning.",
    );
  }
  if (typeof tree.driver !== 'string')
    throw new ConfigError("Invalid parameter type for 'driver', expected: string");
  const drv = graph.driver(tree.driver);
  if (drv === undefined) throw new ConfigError(`Unknown driver '${tree.driver}'`);
  if (filename !== undefined) {
    if (drv.kind === 'format') {
      const file = tree.file;
      if (typeof file === 'string')
        throw new ConfigError(`Cannot reference an existing node and a filename at once`);
      tree.file = mergeMissing(isOptionTree(file) ? file : {}, protocolOptions(filename));
    } else {
      const proto = protocolOptions(filename);
      if (proto.driver !== tree.driver) {
        // The driver was named explicitly: the filename is just its `filename` option, unless it
        // is the same pseudo-protocol (`-o driver=blkdebug blkdebug::x.img`).
        if (tree.driver === 'blkdebug')
          throw new ConfigError('blkdebug needs a filename blkdebug:[config]:image');
        mergeMissing(tree, { filename });
      } else mergeMissing(tree, proto);
    }
  }
  resolveChildFilenames(tree);
  if (req.aio !== undefined) applyAio(tree, req.aio);
  if (req.readOnly) tree['read-only'] = true;
  if (req.forceShare) tree['force-share'] = true;
  if (req.discard !== undefined && tree.discard === undefined) tree.discard = req.discard;
  if (req.cache !== undefined && tree.cache === undefined) {
    tree.cache = { direct: req.cache.direct, 'no-flush': req.cache.noFlush };
  }
  normaliseBlockdevTree(tree);
  return { options: tree as BlockdevOptions, warnings };
}

/** An open image: the graph, the top node and the BlockBackend the tool does its I/O through. */
export class OpenImage {
  #closed = false;
  constructor(
    readonly graph: BlockGraph,
    readonly bs: BlockDriverState,
    readonly blk: BlockBackend,
    /** The name given by the user (for messages). */
    readonly name: string,
  ) {}

  get closed(): boolean {
    return this.#closed;
  }

  /** blk_unref: drains, detaches and closes every node of the image. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // Drivers may close asynchronously (the file driver closes its fd in the background).
    const nodes = this.graph.nodes();
    await this.blk.unref();
    this.bs.unref();
    await Promise.all(nodes.map((n) => n.closing).filter((p): p is Promise<void> => p !== null));
  }
}

/** blk_new_open: opens `req` into `graph` (a new one by default). Throws ConfigError. */
export async function openImage(
  req: OpenRequest,
  graph: BlockGraph = createGraph(),
): Promise<{ image: OpenImage; warnings: string[] }> {
  const { options, warnings } = resolveOpenOptions(req, graph);
  const bs = await graph.openNode(options);
  let blk: BlockBackend;
  try {
    blk = BlockBackend.withNode(bs);
  } catch (e) {
    bs.unref();
    throw e;
  }
  blk.setEnableWriteCache(!(req.cache?.writethrough ?? false));
  return { image: new OpenImage(graph, bs, blk, req.filename ?? ''), warnings };
}
