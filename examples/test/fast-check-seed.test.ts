// The test tooling's seed rule (tools/fast-check-seed.mjs, loaded by .mocharc.cjs): one fixed
// fast-check seed under CI, VMKIT_FC_SEED anywhere, none otherwise. Each case loads the file in
// a fresh Node process with a chosen environment.
import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { pathToFileURL } from 'node:url';
import { repoPath } from './helpers/run-example.js';

interface SeedRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Loads the seed file with `env` (CI and VMKIT_FC_SEED cleared first) and prints the global seed. */
function seedWith(env: Record<string, string>): Promise<SeedRun> {
  const tool = pathToFileURL(repoPath('tools/fast-check-seed.mjs')).href;
  const script =
    `await import(${JSON.stringify(tool)});` +
    `const { default: fc } = await import('fast-check');` +
    `console.log(String(fc.readConfigureGlobal().seed));`;
  const base = { ...process.env };
  delete base.CI;
  delete base.VMKIT_FC_SEED;
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script],
      { cwd: repoPath('.'), env: { ...base, ...env }, encoding: 'utf8', timeout: 20_000 },
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
        resolve({ code, stdout: stdout.trim(), stderr });
      },
    );
  });
}

describe('test tooling: the fast-check seed (tools/fast-check-seed.mjs)', () => {
  it('CI gets the fixed seed; elsewhere fast-check draws its own', async () => {
    expect((await seedWith({ CI: 'true' })).stdout).to.equal('20261122');
    expect((await seedWith({})).stdout).to.equal('undefined');
  });

  it('VMKIT_FC_SEED pins the seed, also over CI', async () => {
    expect((await seedWith({ VMKIT_FC_SEED: '-1169546794' })).stdout).to.equal('-1169546794');
    expect((await seedWith({ VMKIT_FC_SEED: '5', CI: 'true' })).stdout).to.equal('5');
  });

  it('refuses a VMKIT_FC_SEED that is not an integer, naming the value', async () => {
    for (const bad of ['abc', '1.5', '1e30']) {
      const r = await seedWith({ VMKIT_FC_SEED: bad });
      expect(r.code, bad).to.not.equal(0);
      expect(r.stderr).to.contain(`VMKIT_FC_SEED must be an integer (fast-check's seed), got '${bad}'`);
    }
  });
});
