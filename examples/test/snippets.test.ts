import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import { docSnippets, repoRoot } from '../scripts/doc-snippets.js';
import { runExample, type ExampleRun } from './helpers/run-example.js';

/** What each snippet of the guides prints. */
const EXPECTED: Readonly<Record<string, readonly string[]>> = {
  'compose-basic': [
    'read back: 171 171 171 171',
    'drivers: blkdebug, file, memory, null-co, raw; objects: io0 (iothread)',
    'destroyed: true',
  ],
  'compose-json': ['hd0: raw 536870912 bytes, group slow, bps 1048576'],
  'block-driver-pattern': ['1044480 bytes, first: 1 2 3', 'write failed: Operation not permitted'],
  'device-watchdog': [
    "watchdog 'wd0': property 'timeout' = 0: must be between 1 and 3600000",
    'machine reset at 900 ms',
    'machine reset at 1400 ms',
    'fired 2 time(s)',
  ],
  'virtio-device': ['SHOUT THIS (1 interrupt)'],
  drain: [
    '0 ms: device: stop taking requests from the guest',
    '0 ms: draining, 1 request in flight',
    '1 ms: drained: quiesce counter 1, 0 in flight',
    '1 ms: nested: quiesce counter 2',
    '6 ms: read submitted during the drain: parked, done = false',
    '6 ms: device: resume',
    '7 ms: read done = true',
  ],
  plug: [
    'after the inner unplug: 4 reads queued',
    'results: 0 0 0 0',
    'submissions: 4, 1',
    'notify queue 0',
    'notify queue 1',
  ],
  throttle: ['a@0 a@0 a@100 b@200 a@300 b@400 b@500', 'a@500 a@500 a@500'],
};

describe('docs: snippets', function () {
  it('every guide snippet is the same as its file under examples/snippets (sync: node examples/dist/scripts/doc-snippets.js)', function () {
    const snippets = docSnippets();
    expect(snippets.map((s) => s.file).sort()).to.deep.equal(
      Object.keys(EXPECTED)
        .map((name) => `examples/snippets/${name}.ts`)
        .sort(),
    );
    for (const s of snippets) expect(s.shown, `${s.doc}: ${s.file}`).to.equal(s.actual);
  });

  it('every file under examples/snippets has an expected output here', function () {
    const files = readdirSync(`${repoRoot}examples/snippets`).filter((f) => f.endsWith('.ts'));
    expect(files.map((f) => f.slice(0, -3)).sort()).to.deep.equal(Object.keys(EXPECTED).sort());
  });

  describe('each snippet runs and prints what the guide says', function () {
    const runs = new Map<string, ExampleRun>();
    before(async function () {
      this.timeout(60_000);
      // In parallel: each one is a Node process of its own.
      const names = Object.keys(EXPECTED);
      const results = await Promise.all(names.map((name) => runExample(`snippets/${name}.js`)));
      names.forEach((name, i) => runs.set(name, results[i]));
    });

    for (const [name, lines] of Object.entries(EXPECTED)) {
      it(`${name}.ts`, function () {
        const run = runs.get(name)!;
        expect(run.stderr).to.equal('');
        expect(run.code).to.equal(0);
        expect(run.lines).to.deep.equal(lines);
      });
    }
  });
});
