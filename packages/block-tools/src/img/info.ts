/**
 * `vmkit-img info [-f FMT | --image-opts] [--output=human|json] [-U] FILE` (qemu-img info, with
 * QEMU 8's child-node sections): format, virtual size, disk size, format-specific information and
 * the children of the node down to the protocol.
 */
import type { ToolConsole } from '../common/console.js';
import { sizeToStr, sizeWithBytes } from '../common/numbers.js';
import { formatSpecificLines, nodeImageInfo, type NodeImageInfo } from '../image/describe.js';
import { errorExit, imgGetopt, imgOpen, optArg, outputFormat, type OutputFormat } from './common.js';

/** The human dump of one node (bdrv_node_info_dump); `top` prints `image:` instead of `filename:`. */
export function infoLines(
  info: NodeImageInfo,
  top: boolean,
  protocolKind: (format: string) => boolean,
): string[] {
  const out: string[] = [];
  const isProtocol = !top && protocolKind(info.format);
  out.push(`${top ? 'image' : 'filename'}: ${info.filename}`);
  if (isProtocol) {
    out.push(`protocol type: ${info.format}`);
    out.push(`file length: ${sizeWithBytes(info['virtual-size'])}`);
  } else {
    out.push(`file format: ${info.format}`);
    out.push(`virtual size: ${sizeWithBytes(info['virtual-size'])}`);
  }
  const actual = info['actual-size'];
  out.push(`disk size: ${actual === undefined ? 'unavailable' : sizeToStr(actual)}`);
  if (info['cluster-size'] !== undefined) out.push(`cluster_size: ${info['cluster-size']}`);
  if (info['format-specific'] !== undefined) {
    out.push('Format specific information:');
    out.push(...formatSpecificLines(info['format-specific'], 1));
  }
  for (const child of info.children) {
    out.push(`Child node '/${child.name}':`);
    for (const l of infoLines(child.info, false, protocolKind)) out.push(`    ${l}`);
  }
  return out;
}

export async function imgInfo(con: ToolConsole, args: readonly string[]): Promise<number> {
  const p = imgGetopt(args, 'hf:U', {
    help: 'h',
    format: 'f',
    'force-share': 'U',
    output: 'output:',
    'image-opts': 'image-opts',
    'backing-chain': 'backing-chain',
  });
  let format: string | undefined;
  let output: OutputFormat = 'human';
  let imageOpts = false;
  let forceShare = false;
  for (const o of p.options) {
    if (o.letter === 'h') {
      con.line('Usage: vmkit-img info [-f FMT | --image-opts] [--output=human|json] [-U] FILE');
      return 0;
    }
    if (o.letter === 'f') format = optArg(o);
    else if (o.letter === 'U') forceShare = true;
    else if (o.letter === 'output') output = outputFormat(optArg(o));
    else if (o.letter === 'image-opts') imageOpts = true;
  }
  if (p.operands.length !== 1) errorExit('Expecting one image file name');
  const filename = p.operands[0];
  const image = await imgOpen(con, { filename, format, imageOpts, readOnly: true, forceShare });
  try {
    const info = await nodeImageInfo(image.bs);
    if (output === 'json') {
      con.line(JSON.stringify(info, null, 4));
    } else {
      const kinds = new Map(image.graph.nodes().map((n) => [n.driver.name, n.driver.kind]));
      for (const l of infoLines(info, true, (f) => kinds.get(f) === 'protocol')) con.line(l);
    }
  } finally {
    await image.close();
  }
  return 0;
}
