/**
 * @vmkit/block-tools: vmkit-io and vmkit-img, QEMU's qemu-io and qemu-img over vmkit's block
 * layer. The binaries are thin wrappers of `vmkitIo` and `vmkitImg`, which take their standard
 * streams as arguments so that they can also be run in-process.
 */
export { vmkitIo, VMKIT_VERSION, type ToolStdio } from './io/main.js';
export { vmkitImg } from './img/main.js';
export { IoSession } from './io/session.js';
export { IO_COMMANDS, breakline, runCommandLine } from './io/shell.js';
export { QUIT, type CommandResult, type IoCommand } from './io/command.js';
export { ToolConsole, type TextSink } from './common/console.js';
export { parseSize, cvtstr, sizeToStr, timestr, type ParsedSize } from './common/numbers.js';
export {
  parseOptionString,
  splitOptions,
  crumple,
  normaliseBlockdevTree,
  type OptionTree,
  type OptionValue,
} from './common/options.js';
export { getopt, type GetoptOption, type GetoptResult } from './common/getopt.js';
export { traceChannelNames, KNOWN_TRACE_EVENTS } from './common/trace.js';
export {
  createGraph,
  openImage,
  resolveOpenOptions,
  protocolOptions,
  parseCacheMode,
  parseDiscardMode,
  OpenImage,
  type CacheSetting,
  type OpenRequest,
} from './image/open.js';
