#!/usr/bin/env node
/** The vmkit-io command (see @vmkit/block-tools README). */
import { runTool } from './run.js';
import { vmkitIo } from '../io/main.js';

runTool('vmkit-io', (args, stdio) => vmkitIo(args, stdio));
