import { expect } from 'chai';
import { runExample, type ExampleRun } from './helpers/run-example.js';

describe('example: compose-machine', function () {
  let run: ExampleRun;

  before(async function () {
    this.timeout(60_000);
    run = await runExample('compose-machine.js');
  });

  it('runs to the end: exit status 0, nothing on stderr', function () {
    expect(run.stderr).to.equal('');
    expect(run.code).to.equal(0);
    expect(run.lines.at(-1)).to.equal('machine destroyed: true');
  });

  it('T2: without max the bucket holds 100 ms of I/O: of 32 writes at 100 iops, 11 pass at once, 21 follow 10 ms apart', function () {
    expect(run.lines).to.include('drive0: 32 writes of 4 KiB under x-iops-total=100 took 210 ms');
  });

  it('reads back what it wrote, reads zeroes from null-co, and echoes through the virtio device', function () {
    expect(run.lines).to.include.members([
      'drive0: block 7 reads back intact',
      'drive1: 64 KiB at 512 MiB are zeroes',
      "echo0: device id 0xffff, echoed 'hello, vmkit', 1 interrupt",
      'machine paused (user), then cont',
    ]);
  });

  it('inspects the machine: plugins, objects, devices, query-block and query-blockstats', function () {
    expect(run.lines).to.include.members([
      "machine 'compose-demo' (running), plugins: core, block-layer, virtio, virtio-echo",
      '  object tg0 (throttle-group)',
      '  device echo0 (virtio-echo) on virtio-mmio.0',
      '  drive drive0: raw over memory://, 67108864 bytes, group tg0 iops=100',
      '  drive drive1: raw over null-co://, 1073741824 bytes',
      '  stats drive0: rd 1 ops/4096 B, wr 32 ops/131072 B, flush 1',
      '  stats drive1: rd 1 ops/65536 B, wr 0 ops/0 B, flush 0',
      '  echo0 processed 1 request(s)',
    ]);
  });

  it('tears down: the slot is empty after deviceDel, then the machine is destroyed', function () {
    expect(run.lines).to.include('echo0 unplugged: slot device id now 0');
  });
});
