/**
 * The `vmkit` binary as users run it: spawned, with real time. Each run is short (1–2 s of
 * workload); the tests wait for the process, never for wall time.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { spawnVmkit, TempDir, twoDiskConfig, VMKIT_BIN } from './helpers/cli.js';

function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const ESC = '\x1b';

/** Shell quoting for `script -c`. */
function sh(args: readonly string[]): string {
  return args.map((a) => `'${a.replace(/'/g, "'\\''")}'`).join(' ');
}

describe('vmkit binary', function () {
  this.timeout(60_000);
  let dir: TempDir;
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.remove());

  it('a config error names the JSON path and the rule, exits 1 and starts nothing', async () => {
    const cfg = twoDiskConfig();
    (cfg.devices as Record<string, unknown>[])[1].iothread = 'io9';
    const path = dir.file('bad.json', cfg);
    const p = spawnVmkit(['run', path]);
    expect(await p.exited).to.equal(1);
    expect(p.stderr).to.equal(`vmkit run: ${path}: devices[1].iothread: no object 'io9'\n`);
    expect(p.stdout).to.equal('');
  });

  it('runs a short workload on both devices: summary per device and "verify: 0 errors"', async () => {
    const p = spawnVmkit(['run', dir.file('c.json', twoDiskConfig({ runtime: 1 }))]);
    expect(await p.exited).to.equal(0, p.stderr);
    const lines = p.stdout.trimEnd().split('\n');
    expect(lines[lines.length - 1]).to.equal('verify: 0 errors');
    for (const id of ['vda', 'xvda']) {
      for (const op of ['read', 'write', 'flush'])
        expect(p.stdout).to.match(new RegExp(`^${id} +${op} +\\d+ `, 'm'));
    }
    expect(p.stdout).to.match(
      /^xen-block 'xvda' on m1: randrw bs=4096 iodepth=8; crc32c: \d+ reads checked, [1-9]\d* blocks written, 0 errors$/m,
    );
  });

  it('--output=json prints the same as one JSON object', async () => {
    const p = spawnVmkit(['run', '--output=json', dir.file('c.json', twoDiskConfig({ runtime: '500ms' }))]);
    expect(await p.exited).to.equal(0, p.stderr);
    const j = JSON.parse(p.stdout) as Record<string, unknown> & { devices: Record<string, unknown>[] };
    expect(Object.keys(j)).to.deep.equal(['seconds', 'interrupted', 'devices', 'io_errors', 'verify']);
    expect(Object.keys(j.devices[0])).to.deep.equal([
      'id',
      'type',
      'drive',
      'job',
      'seconds',
      'stop_reason',
      'read',
      'write',
      'flush',
      'io_errors',
      'verify',
      'failure',
    ]);
    expect(j.devices.map((d) => d.stop_reason)).to.deep.equal(['runtime', 'runtime']);
    expect(j.verify).to.deep.include({ errors: 0 });
  });

  it('runs the embedded default (shortened with --runtime) and ends with "verify: 0 errors"', async () => {
    const p = spawnVmkit(['run', '--runtime=2']);
    expect(await p.exited).to.equal(0, p.stderr);
    const lines = p.stdout.trimEnd().split('\n');
    expect(lines[0]).to.match(
      /^vda: virtio-blk on disk0 \(128 MiB\), iothread io0, throttle group tg0: randrw \(70% reads\)/,
    );
    expect(lines[1]).to.match(
      /^xvda: xen-block on disk1 \(128 MiB\), throttle group tg0, x86_64-abi ring: randrw/,
    );
    expect(p.stdout).to.match(/^ran 2\.\d s on 2 devices$/m);
    expect(lines[lines.length - 1]).to.equal('verify: 0 errors');
  });

  it('Ctrl-C stops the workload, drains, flushes, prints the summary and exits 130', async () => {
    const p = spawnVmkit(['run', dir.file('c.json', twoDiskConfig({ runtime: 60 }))]);
    await p.waitFor('stdout', /^\[1\.0 s\] xvda: /m);
    p.child.kill('SIGINT');
    expect(await p.exited).to.equal(130);
    expect(p.stdout).to.match(/^interrupted after \d+\.\d s on 2 devices$/m);
    expect(p.stdout).to.match(/^vda +flush +1 /m);
    expect(p.stdout.trimEnd().split('\n').pop()).to.equal('verify: 0 errors');
  });

  it('prints plain progress lines every second when stdout is not a terminal', async () => {
    const p = spawnVmkit(['run', dir.file('c.json', twoDiskConfig({ runtime: 3 }))]);
    expect(await p.exited).to.equal(0, p.stderr);
    expect(p.stdout).to.not.include('\x1b');
    expect(p.stdout).to.not.include('\r');
    const live = p.stdout.split('\n').filter((l) => l.startsWith('['));
    expect(live.filter((l) => l.includes(' vda: '))).to.have.length.of.at.least(2);
    expect(live[0]).to.match(
      /^\[1\.0 s\] vda: \d+ IOPS \(r \d+ \/ w \d+\), [\d.]+ MiB\/s, in flight \d+, throttled \d+$/,
    );
    expect(live[1]).to.match(/^\[1\.0 s\] xvda: /);
  });

  it('redraws one live line per device in place on a terminal (script(1))', async function () {
    if (!hasScript()) {
      console.log('      (skipped: util-linux script(1) is not installed)');
      this.skip();
    }
    const cmd = sh([
      process.execPath,
      VMKIT_BIN,
      'run',
      dir.file('c.json', twoDiskConfig({ runtime: '1500ms' })),
    ]);
    const p = spawnVmkit(['-qfec', cmd, '/dev/null'], 'script', []);
    expect(await p.exited).to.equal(0, p.stderr);
    const out = p.stdout;
    // Each redraw moves up over the two lines and rewrites each after \r + clear-line.
    expect(out).to.match(new RegExp(`\r${ESC}\\[2Kvda +virtio-blk +\\d\\.\\d/2 s +\\d+ IOPS`));
    expect(out).to.match(new RegExp(`\r${ESC}\\[2Kxvda +xen-block +\\d\\.\\d/2 s +\\d+ IOPS`));
    expect(out.split('\x1b[2A').length - 1).to.be.at.least(2);
    // The live lines are erased before the summary.
    expect(out).to.include('\x1b[2A\r\x1b[J');
    expect(out).to.not.match(/^\[\d/m);
    expect(out.replace(/\r/g, '').trimEnd().split('\n').pop()).to.equal('verify: 0 errors');
  });

  it('--qmp unix:PATH answers query-status and query-block while the machine runs', async () => {
    const sock = join(dir.path, 'qmp.sock');
    const p = spawnVmkit(['run', '--qmp', `unix:${sock}`, dir.file('c.json', twoDiskConfig({ runtime: 3 }))]);
    await p.waitFor('stderr', /QMP listening on unix:/);
    const replies = await qmp(sock, [
      { execute: 'qmp_capabilities' },
      { execute: 'query-status', id: 's' },
      { execute: 'query-block', id: 'b' },
    ]);
    expect(replies[0]).to.have.property('QMP');
    expect(replies[1]).to.deep.equal({ return: {} });
    expect(replies[2]).to.deep.include({ id: 's' });
    expect((replies[2] as { return: Record<string, unknown> }).return).to.deep.include({
      status: 'running',
      running: true,
    });
    const blocks = (replies[3] as { return: { qdev?: string; inserted?: { 'node-name'?: string } }[] })
      .return;
    expect(blocks.map((b) => [b.qdev, b.inserted?.['node-name']])).to.deep.equal([
      ['vda', 'm0'],
      ['xvda', 'm1'],
    ]);
    expect(await p.exited).to.equal(0, p.stderr);
  });
});

/** Sends `commands` one per line and collects the greeting plus one reply per command. */
function qmp(path: string, commands: readonly object[]): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = createConnection(path);
    const replies: unknown[] = [];
    let buf = '';
    let sent = 0;
    sock.on('error', reject);
    sock.on('data', (d) => {
      buf += d.toString('utf8');
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('event' in msg) continue;
        replies.push(msg);
        if (sent < commands.length) sock.write(`${JSON.stringify(commands[sent++])}\n`);
        else {
          sock.end();
          resolve(replies);
        }
      }
    });
  });
}
