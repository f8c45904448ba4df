/**
 * The state of one vmkit-io run: the console, the open image (qemuio_blk), the options given on
 * the command line that `open` also obeys, and the commands.
 */
import { Errno } from '@vmkit/core';
import type { BlockBackend, BlockDriverState } from '@vmkit/block-layer';
import type { ToolConsole } from '../common/console.js';
import { openImage, type OpenImage, type OpenRequest } from '../image/open.js';
import type { IoCommand } from './command.js';

export class IoSession {
  image: OpenImage | null = null;
  /** Commands by name, sorted like qemu-io's table. */
  readonly commands: IoCommand[] = [];
  /** AIO requests submitted and not completed yet (aio_read/aio_write). */
  aioPending = 0;

  constructor(
    readonly con: ToolConsole,
    /** --image-opts was given: `open` takes an option string, and `open -o` is refused. */
    readonly imageOpts: boolean,
  ) {}

  addCommands(cmds: readonly IoCommand[]): void {
    this.commands.push(...cmds);
    this.commands.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  /** find_command: by name or alias. */
  findCommand(name: string): IoCommand | undefined {
    return this.commands.find((c) => c.name === name || c.altname === name);
  }

  /** The BlockBackend of the open image (commands only run with one, unless noFileOk). */
  get blk(): BlockBackend {
    const img = this.image;
    if (img === null) throw new Error('no image open');
    return img.blk;
  }

  get bs(): BlockDriverState {
    const img = this.image;
    if (img === null) throw new Error('no image open');
    return img.bs;
  }

  /** openfile(): prints QEMU's messages; 0 or -EINVAL. */
  async open(req: OpenRequest): Promise<number> {
    if (this.image !== null) {
      this.con.error("file open already, try 'help close'");
      return -Errno.EBUSY;
    }
    try {
      const { image, warnings } = await openImage(req);
      for (const w of warnings) this.con.errLine(w);
      this.image = image;
      return 0;
    } catch (e) {
      const name = req.imageOpts ? undefined : req.filename;
      const prefix = name !== undefined ? `can't open device ${name}: ` : "can't open: ";
      this.con.error(prefix + (e instanceof Error ? e.message : String(e)));
      return -Errno.EINVAL;
    }
  }

  /** close: blk_unref of the image (waits for its requests). */
  async close(): Promise<void> {
    const img = this.image;
    this.image = null;
    if (img !== null) await img.close();
  }
}
