import { expect } from 'chai';
import { SUMMARY_COLUMNS } from '../src/index.js';
import { runInProcess, TempDir, twoDiskConfig } from './helpers/cli.js';

describe('vmkit run in-process (VirtualClock)', () => {
  let dir: TempDir;
  beforeEach(() => (dir = new TempDir()));
  afterEach(() => dir.remove());

  it('drives virtio-blk and xen-block with crc32c verification: 0 errors, one table row per op', async () => {
    const r = await runInProcess(['run', dir.file('c.json', twoDiskConfig({ runtime: 1 }))]);
    expect(r.stderr).to.equal('');
    expect(r.code).to.equal(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[lines.length - 1]).to.equal('verify: 0 errors');
    expect(lines[0]).to.match(/^vda: virtio-blk on m0 \(8 MiB\), iothread io0, throttle group tg0: randrw/);
    expect(lines[1]).to.match(
      /^xvda: xen-block on m1 \(8 MiB\), throttle group tg0, x86_64-abi ring: randrw/,
    );
    expect(r.stdout).to.match(
      /^\[1\.0 s\] vda: \d+ IOPS \(r \d+ \/ w \d+\), [\d.]+ MiB\/s, in flight \d+, throttled \d+$/m,
    );
    expect(r.stdout).to.match(/^ran 1\.\d s on 2 devices$/m);
    const header = lines.findIndex((l) => l.startsWith('device '));
    expect(lines[header].split(/\s{2,}/)).to.deep.equal(SUMMARY_COLUMNS);
    const rows = lines.slice(header + 1, header + 7).map((l) => l.split(/\s+/).slice(0, 3));
    expect(rows.map((x) => x.slice(0, 2))).to.deep.equal([
      ['vda', 'read'],
      ['vda', 'write'],
      ['vda', 'flush'],
      ['xvda', 'read'],
      ['xvda', 'write'],
      ['xvda', 'flush'],
    ]);
    expect(Number(rows[0][2]) + Number(rows[1][2])).to.be.greaterThan(0);
    expect(r.stdout).to.match(
      /^virtio-blk 'vda' on m0: randrw bs=4096 iodepth=8; crc32c: [1-9]\d* reads checked, \d+ blocks written, 0 errors$/m,
    );
  });

  it('--output=json: the summary as one JSON object', async () => {
    const r = await runInProcess([
      'run',
      '--output=json',
      dir.file('c.json', twoDiskConfig({ runtime: '500ms' })),
    ]);
    expect(r.code).to.equal(0);
    const j = JSON.parse(r.stdout) as {
      interrupted: boolean;
      devices: {
        id: string;
        type: string;
        read: { ops: number; lat_ns: Record<string, unknown> };
        verify: { errors: number; checked: number };
      }[];
      verify: { errors: number; checked: number };
      io_errors: number;
    };
    expect(j.interrupted).to.equal(false);
    expect(j.devices.map((d) => [d.id, d.type])).to.deep.equal([
      ['vda', 'virtio-blk'],
      ['xvda', 'xen-block'],
    ]);
    expect(Object.keys(j.devices[0].read.lat_ns)).to.deep.equal(['p50', 'p99', 'max']);
    expect(j.devices.every((d) => d.read.ops > 0 && d.verify.errors === 0)).to.equal(true);
    expect(j.verify.errors).to.equal(0);
    expect(j.verify.checked).to.equal(j.devices[0].verify.checked + j.devices[1].verify.checked);
    expect(j.io_errors).to.equal(0);
  });

  it('stops on interrupt: drains, flushes, prints the summary, status 130', async () => {
    const ac = new AbortController();
    const r = await runInProcess(['run', dir.file('c.json', twoDiskConfig({ runtime: 60 }))], {
      signal: ac.signal,
      // Ctrl-C right after the first progress lines (virtual second 1).
      onOutput: (out) => /^\[1\.0 s\] xvda: /m.test(out) && ac.abort(),
    });
    expect(r.code).to.equal(130);
    expect(r.stdout).to.match(/^interrupted after 1\.\d s on 2 devices$/m);
    expect(r.stdout).to.match(/^vda +flush +1 /m);
    expect(r.stdout.trimEnd().split('\n').pop()).to.equal('verify: 0 errors');
  });

  it('reports config errors with their JSON path and creates nothing', async () => {
    const cfg = twoDiskConfig();
    (cfg.devices as Record<string, unknown>[])[1].iothread = 'io9';
    (cfg.blockdevs as Record<string, unknown>[])[0].filename = 'x';
    const path = dir.file('bad.json', cfg);
    const r = await runInProcess(['run', path]);
    expect(r.code).to.equal(1);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal(`vmkit run: ${path}: devices[1].iothread: no object 'io9'\n`);
  });

  it('reports a failing blockdev at its entry', async () => {
    const cfg = twoDiskConfig();
    (cfg.blockdevs as Record<string, unknown>[])[1] = { driver: 'memory', 'node-name': 'm1', colour: 'red' };
    const path = dir.file('bad.json', cfg);
    const r = await runInProcess(['run', path]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(new RegExp(`^vmkit run: ${path}: blockdevs\\[1\\]: .*colour`));
  });

  it('reports a region beyond the disk at its job', async () => {
    const r = await runInProcess(['run', dir.file('c.json', twoDiskConfig({ size: '16M' }))]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(
      /workload\.jobs\[0\]: vda: offset \+ size \(16777216\) is beyond the end of the disk \(8388608 bytes\)/,
    );
  });

  it('without a workload the machine runs idle until interrupted', async () => {
    const ac = new AbortController();
    const cfg = twoDiskConfig();
    delete cfg.workload;
    const r = await runInProcess(['run', dir.file('c.json', cfg)], {
      signal: ac.signal,
      onOutput: (_out, err) => err.includes('no workload') && ac.abort(),
    });
    expect(r.code).to.equal(130);
    expect(r.stdout).to.equal('');
    expect(r.stderr).to.equal('vmkit run: no workload: the machine runs until Ctrl-C\n');
  });

  it('answers --help, unknown commands and bad options', async () => {
    expect((await runInProcess(['run', '--help'])).stdout).to.match(/^usage: vmkit run \[CONFIG\]/);
    const bad = await runInProcess(['run', '--output=xml']);
    expect(bad.code).to.equal(1);
    expect(bad.stderr).to.equal(
      "vmkit run: --output: 'xml': must be one of human, json\nTry 'vmkit run --help' for more information.\n",
    );
    const unknown = await runInProcess(['frobnicate']);
    expect([unknown.code, unknown.stderr]).to.deep.equal([
      1,
      "vmkit: unknown command 'frobnicate'\nTry 'vmkit --help' for more information.\n",
    ]);
    const missing = await runInProcess(['run', dir.path + '/nope.json']);
    expect(missing.code).to.equal(1);
    expect(missing.stderr).to.match(/^vmkit run: cannot read '.*nope\.json': ENOENT/);
  });
});
