#!/usr/bin/env node
'use strict';
/*
 * Builds the host-io native addon (build/Release/host_io.node) with node-gyp.
 *
 * It is the package's `install` script, so `npm install` / `npm ci` / `npm rebuild` at the
 * repository root run it. The addon is optional: without it the block layer's `file` driver
 * keeps its portable behaviour (no hole punching, everything reported as data). So a failed
 * build does not fail the install: the reason goes to build/not-built.txt (npm hides the output
 * of install scripts that succeed; src/native.ts shows the recorded reason) and the script
 * exits 0. VMKIT_REQUIRE_ADDON=1 (CI) turns a failed build into a failed install.
 *
 * Nothing is downloaded: node-gyp is the one npm runs lifecycle scripts with (or npm's own
 * copy), and Node's headers must already be on the machine (npm's `nodedir` setting, the
 * include/ folder of the running Node, or node-gyp's header cache).
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PACKAGE = '@vmkit/host-io';
const root = path.resolve(__dirname, '..');
const buildDir = path.join(root, 'build');
const addon = path.join(buildDir, 'Release', 'host_io.node');
const reasonFile = path.join(buildDir, 'not-built.txt');
const mustBuild = process.env.VMKIT_REQUIRE_ADDON === '1';

const isFile = (p) => {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
};

const nodePrefix = path.resolve(path.dirname(process.execPath), '..');

/** node-gyp's CLI script, or undefined. */
function locateNodeGyp() {
  const npmDir = process.env.npm_execpath ? path.resolve(path.dirname(process.env.npm_execpath), '..') : null;
  return [
    process.env.npm_config_node_gyp,
    npmDir && path.join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    path.join(nodePrefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ].find((p) => p && isFile(p));
}

/**
 * The --nodedir to pass: a folder with include/node/node_api.h; '' when node-gyp's own header
 * cache has them (no flag needed); null when node-gyp would have to download them.
 */
function locateHeaders() {
  const ok = (dir) => isFile(path.join(dir, 'include', 'node', 'node_api.h'));
  const fromNpm = process.env.npm_config_nodedir;
  if (fromNpm) return ok(fromNpm) ? fromNpm : null;
  if (ok(nodePrefix)) return nodePrefix;
  return ok(path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node)) ? '' : null;
}

function runs(cmd) {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

function giveUp(reason) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(reasonFile, `${reason}\n`);
  process.stderr.write(
    `${PACKAGE}: native addon not built: ${reason}\n` +
      `${PACKAGE}: hole punching and SEEK_DATA/SEEK_HOLE are unavailable; the file driver falls back ` +
      `to its portable behaviour. Install a C compiler, make and python3, then run \`npm rebuild ${PACKAGE}\`.\n`,
  );
  process.exit(mustBuild ? 1 : 0);
}

function build() {
  const missing = [];
  if (process.platform !== 'linux') missing.push(`Linux (this is ${process.platform})`);
  if (!runs(process.env.CC || 'cc')) missing.push('a C compiler (cc)');
  if (!runs('make')) missing.push('make');
  if (!runs(process.env.PYTHON || 'python3')) missing.push('python3');
  if (missing.length) giveUp(`missing ${missing.join(', ')}`);

  const nodeGyp = locateNodeGyp();
  if (!nodeGyp) giveUp('node-gyp not found (not given by npm, and npm has no copy of its own)');
  const nodeDir = locateHeaders();
  if (nodeDir === null) {
    giveUp(
      `no headers for Node ${process.version} (include/node/node_api.h); set npm's nodedir to a Node installation that has them`,
    );
  }

  const args = [nodeGyp, 'rebuild', '--loglevel=warn', ...(nodeDir ? [`--nodedir=${nodeDir}`] : [])];
  const r = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 5 * 60 * 1000,
  });
  if (r.error || r.status !== 0) {
    const log = `${r.stdout || ''}${r.stderr || ''}`;
    process.stderr.write(log);
    const line = log
      .split('\n')
      .find((l) => /\berror\b/i.test(l) && !/^gyp (info|ERR! (stack|cwd|node|System|command))/.test(l));
    giveUp(
      `node-gyp failed (${r.error ? r.error.message : `exit code ${r.status}`})${line ? `: ${line.trim()}` : ''}`,
    );
  }
  try {
    require(addon);
  } catch (err) {
    giveUp(`the built addon does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
  fs.rmSync(reasonFile, { force: true });
  process.stdout.write(`${PACKAGE}: built ${path.relative(root, addon)}\n`);
}

build();
