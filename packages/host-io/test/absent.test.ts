import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';

/** dist/src of this package (the test runs from dist/test). */
const distSrc = fileURLToPath(new URL('../src/', import.meta.url));

/**
 * Runs `script` (an ES module body) against a copy of the compiled package that has no build/
 * folder, or one whose build/not-built.txt holds `recorded`; returns what it printed as JSON.
 */
function runWithoutAddon(script: string, recorded?: string): unknown {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-host-io-absent-'));
  try {
    fs.cpSync(distSrc, path.join(root, 'dist', 'src'), { recursive: true });
    fs.writeFileSync(path.join(root, 'package.json'), JSON.stringify({ type: 'module' }));
    if (recorded !== undefined) {
      fs.mkdirSync(path.join(root, 'build'));
      fs.writeFileSync(path.join(root, 'build', 'not-built.txt'), `${recorded}\n`);
    }
    const main = path.join(root, 'main.mjs');
    fs.writeFileSync(main, `import * as h from './dist/src/index.js';\n${script}\n`);
    const r = spawnSync(process.execPath, [main], { encoding: 'utf8' });
    expect(r.status, r.stderr).to.equal(0);
    return JSON.parse(r.stdout) as unknown;
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
}

describe('host-io without the addon', function () {
  it('reports unavailable with the reason and what to do', function () {
    const out = runWithoutAddon(
      'console.log(JSON.stringify({ a: h.hostIoAvailable(), r: h.hostIoUnavailableReason() }));',
    ) as { a: boolean; r: string };
    expect(out.a).to.equal(false);
    expect(out.r).to.match(/host-io addon .*was not built: the file does not exist/);
    expect(out.r).to.match(/npm rebuild @vmkit\/host-io/);
  });

  it("shows the build script's recorded reason", function () {
    const out = runWithoutAddon(
      'console.log(JSON.stringify(h.hostIoUnavailableReason()));',
      'missing a C compiler (cc)',
    ) as string;
    expect(out).to.match(/was not built: missing a C compiler \(cc\)\./);
  });

  it('every call fails with -EOPNOTSUPP, the callbacks after the call returned', function () {
    const out = runWithoutAddon(
      `let returned = false;
       const calls = [h.punchHole, h.zeroRange].map((f) => new Promise((resolve) => f(3, 0, 4096, (r) => resolve([r, returned]))));
       returned = true;
       const results = await Promise.all(calls);
       const buf = new Uint8Array(8);
       console.log(JSON.stringify({ results, d: h.seekData(3, 0), h: h.seekHole(3, 0), e: h.HostErrno.EOPNOTSUPP,
         r: h.preadvNowait(3, [buf], 0), w: h.pwritevNowait(3, [buf], 0) }));`,
    ) as { results: [number, boolean][]; d: number; h: number; e: number; r: number; w: number };
    expect(out.e).to.equal(95);
    expect(out.results).to.deep.equal([
      [-95, true],
      [-95, true],
    ]);
    expect(out.d).to.equal(-95);
    expect(out.h).to.equal(-95);
    expect(out.r).to.equal(-95);
    expect(out.w).to.equal(-95);
  });
});
