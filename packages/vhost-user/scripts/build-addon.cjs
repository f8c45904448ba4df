#!/usr/bin/env node
'use strict';
/*
 * Builds the vhost-user native addon (build/Release/vhost_user_os.node) with node-gyp.
 *
 * Runs as the package's `install` script, so `npm install` / `npm ci` / `npm rebuild` at the
 * repository root build it. A machine that cannot build it must still install: this script then
 * prints why, records the reason in build/not-built.txt (the TypeScript loader puts it in its
 * error message, since npm hides the output of install scripts that succeed) and exits 0.
 * Set VMKIT_REQUIRE_ADDON=1 (e.g. in CI) to make a failed build fail the install instead.
 *
 * Nothing is downloaded: node-gyp comes from this package's dependencies or from npm itself,
 * and Node's headers must be on the machine (npm's `nodedir`, or the include/ folder next to
 * the node binary); without them node-gyp is not started at all.
 */
const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const pkgDir = path.resolve(__dirname, '..');
const buildDir = path.join(pkgDir, 'build');
const addonPath = path.join(buildDir, 'Release', 'vhost_user_os.node');
const reasonPath = path.join(buildDir, 'not-built.txt');
const required = process.env.VMKIT_REQUIRE_ADDON === '1';
const fix = 'Install g++, make and python3 and run `npm rebuild @vmkit/vhost-user`.';

function exists(p) {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}

/** node-gyp's CLI: npm tells lifecycle scripts where its own copy is; else a dependency. */
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js', { paths: [pkgDir] }));
  } catch {
    // not a dependency: fall back to the copy bundled with npm
  }
  if (process.env.npm_execpath) {
    candidates.push(
      path.join(
        path.dirname(process.env.npm_execpath),
        '..',
        'node_modules',
        'node-gyp',
        'bin',
        'node-gyp.js',
      ),
    );
  }
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  candidates.push(
    path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  return candidates.find((c) => c && exists(c));
}

/** Where Node's headers are, as node-gyp's --nodedir; null when node-gyp would have to download them. */
function findNodeDir() {
  const hasHeaders = (dir) => exists(path.join(dir, 'include', 'node', 'node_api.h'));
  const configured = process.env.npm_config_nodedir;
  if (configured) return hasHeaders(configured) ? configured : null;
  const prefix = path.resolve(path.dirname(process.execPath), '..');
  if (hasHeaders(prefix)) return prefix;
  // node-gyp's own cache of previously installed headers needs no --nodedir.
  const cache = path.join(os.homedir(), '.cache', 'node-gyp', process.versions.node);
  return hasHeaders(cache) ? '' : null;
}

function hasTool(cmd, args = ['--version']) {
  const r = spawnSync(cmd, args, { stdio: 'ignore' });
  return !r.error && r.status === 0;
}

/** What is missing for a build, or an empty list. */
function missingPrerequisites() {
  const missing = [];
  if (process.platform !== 'linux') missing.push(`Linux (this is ${process.platform})`);
  if (!hasTool(process.env.CC || 'cc')) missing.push('a C compiler (cc; install g++ or gcc)');
  if (!hasTool('make')) missing.push('make');
  if (!hasTool(process.env.PYTHON || 'python3')) missing.push('python3');
  return missing;
}

function fail(reason) {
  fs.mkdirSync(buildDir, { recursive: true });
  fs.writeFileSync(reasonPath, `${reason}\n`);
  const line = '-'.repeat(78);
  process.stderr.write(
    `${line}\n@vmkit/vhost-user: the native addon was not built: ${reason}\n` +
      `vhost-user will be unavailable (everything else works). ${fix}\n${line}\n`,
  );
  process.exit(required ? 1 : 0);
}

function main() {
  const missing = missingPrerequisites();
  if (missing.length > 0) fail(`missing ${missing.join(', ')}`);
  const nodeGyp = findNodeGyp();
  if (!nodeGyp)
    fail('node-gyp not found (neither npm_config_node_gyp, a node-gyp dependency, nor npm’s own copy)');
  const nodeDir = findNodeDir();
  if (nodeDir === null) {
    fail(
      `Node's headers (include/node/node_api.h) not found for node ${process.version}; ` +
        'set npm’s nodedir to a Node installation that has them',
    );
  }
  const args = [nodeGyp, 'rebuild', '--loglevel=warn'];
  if (nodeDir) args.push(`--nodedir=${nodeDir}`);
  const r = spawnSync(process.execPath, args, {
    cwd: pkgDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 5 * 60 * 1000,
  });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  if (r.error || r.status !== 0) {
    process.stderr.write(output);
    const firstError = output
      .split('\n')
      .find((l) => /error/i.test(l) && !/^gyp (info|ERR! (stack|cwd|node|System|command))/.test(l));
    fail(
      `node-gyp failed (${r.error ? r.error.message : `exit ${r.status}`})${firstError ? `: ${firstError.trim()}` : ''}`,
    );
  }
  try {
    require(addonPath);
  } catch (err) {
    fail(`the built addon does not load: ${err instanceof Error ? err.message : String(err)}`);
  }
  fs.rmSync(reasonPath, { force: true });
  process.stdout.write(`@vmkit/vhost-user: built ${path.relative(pkgDir, addonPath)}\n`);
}

main();
