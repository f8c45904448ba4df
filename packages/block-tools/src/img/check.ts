/**
 * `vmkit-img check [-f FMT | --image-opts] [--output=human|json] [-r leaks|all] [-U] FILE`.
 * None of vmkit's formats keeps metadata that could be inconsistent (raw is the only format), so
 * an image that opens is consistent: `No errors were found on the image.` and status 0. (qemu-img
 * says "This image format does not support checks" for raw instead.)
 */
import type { ToolConsole } from '../common/console.js';
import { nodeFilename } from '@vmkit/block-layer';
import { errorExit, ImgExit, imgGetopt, imgOpen, optArg, outputFormat, type OutputFormat } from './common.js';

export async function imgCheck(con: ToolConsole, args: readonly string[]): Promise<number> {
  const p = imgGetopt(args, 'hf:r:T:qU', {
    help: 'h',
    format: 'f',
    repair: 'r',
    'force-share': 'U',
    output: 'output:',
    'image-opts': 'image-opts',
  });
  let format: string | undefined;
  let output: OutputFormat = 'human';
  let imageOpts = false;
  let forceShare = false;
  let quiet = false;
  let repair = false;
  for (const o of p.options) {
    const arg = optArg(o);
    if (o.letter === 'h') {
      con.line(
        'Usage: vmkit-img check [-f FMT | --image-opts] [--output=human|json] [-r leaks|all] [-U] FILE',
      );
      return 0;
    } else if (o.letter === 'f') format = arg;
    else if (o.letter === 'U') forceShare = true;
    else if (o.letter === 'q') quiet = true;
    else if (o.letter === 'output') output = outputFormat(arg);
    else if (o.letter === 'image-opts') imageOpts = true;
    else if (o.letter === 'r') {
      if (arg !== 'leaks' && arg !== 'all')
        errorExit(`Unknown option value for -r (expecting 'leaks' or 'all'): ${arg}`);
      repair = true;
    }
  }
  if (p.operands.length !== 1) errorExit('Expecting one image file name');
  if (repair && forceShare) throw new ImgExit('--force-share/-U is not allowed when repairing an image');
  const image = await imgOpen(con, {
    filename: p.operands[0],
    format,
    imageOpts,
    readOnly: !repair,
    forceShare,
  });
  try {
    if (output === 'json') {
      const report = { 'check-errors': 0, filename: nodeFilename(image.bs), format: image.bs.driver.name };
      con.line(JSON.stringify(report, null, 4));
    } else if (!quiet) {
      con.line('No errors were found on the image.');
    }
    return 0;
  } finally {
    await image.close();
  }
}
