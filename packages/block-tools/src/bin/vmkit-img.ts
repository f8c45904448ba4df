#!/usr/bin/env node
/** The vmkit-img command (see @vmkit/block-tools README). */
import { runTool } from './run.js';
import { vmkitImg } from '../img/main.js';

runTool('vmkit-img', (args, stdio) =>
  vmkitImg(args, { ...stdio, stdoutIsTTY: process.stdout.isTTY === true }),
);
