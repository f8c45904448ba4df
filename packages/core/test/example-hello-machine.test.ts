import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

describe('examples: hello-machine', () => {
  it('composes a machine, runs 1 s of virtual time, refuses a bad property and tears down', async () => {
    const script = fileURLToPath(new URL('../examples/hello-machine.js', import.meta.url));
    const { stdout } = await run(process.execPath, [script]);
    expect(stdout).to.contain("device green (led) on bus 'leds.0'");
    expect(stdout).to.contain('green blinked 10×, red 4×');
    expect(stdout).to.contain("led 'blue': property 'period' = 3: must be between 1000 and 1000000000000");
    expect(stdout.trimEnd().split('\n').at(-1)).to.equal('machine destroyed');
  });
});
