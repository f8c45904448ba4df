import { expect } from 'chai';
import type { Machine } from '@vmkit/core';
import {
  ConfigIssues,
  createRunMachine,
  defaultConfig,
  formatIssue,
  machineSchema,
  parseConfigJson,
  validateConfig,
  type MachineSchema,
  type RunConfig,
} from '../src/index.js';

function base(): Record<string, unknown> {
  return {
    objects: [
      { 'qom-type': 'iothread', id: 'io0' },
      { 'qom-type': 'throttle-group', id: 'tg0', 'x-iops-total': 100 },
    ],
    blockdevs: [
      { driver: 'memory', 'node-name': 'm0', size: 1 << 20 },
      { driver: 'memory', 'node-name': 'm1', size: 1 << 20 },
    ],
    devices: [
      { driver: 'virtio-blk', id: 'vda', drive: 'm0', iothread: 'io0' },
      { driver: 'xen-block', id: 'xvda', vdev: 'xvda', drive: 'm1', 'throttle-group': 'tg0' },
    ],
    workload: { rw: 'randrw', bs: '4k', iodepth: 4, runtime: 1, verify: 'crc32c' },
  };
}

describe('vmkit run config validation', () => {
  let machine: Machine;
  let schema: MachineSchema;
  before(async () => {
    machine = await createRunMachine();
    schema = machineSchema(machine);
  });
  after(async () => {
    await machine.destroy();
  });

  function issues(doc: unknown): string[] {
    try {
      validateConfig(doc, schema);
    } catch (e) {
      if (e instanceof ConfigIssues) return e.issues.map(formatIssue);
      throw e;
    }
    return [];
  }

  function valid(doc: unknown): RunConfig {
    return validateConfig(doc, schema);
  }

  it('accepts a complete config and keeps creation order', () => {
    const c = valid(base());
    expect(c.objects.map((o) => o.id)).to.deep.equal(['io0', 'tg0']);
    expect(c.blockdevs.map((b) => b.nodeName)).to.deep.equal(['m0', 'm1']);
    expect(c.devices.map((d) => [d.type, d.id, d.drive, d.throttleGroup])).to.deep.equal([
      ['virtio-blk', 'vda', 'm0', undefined],
      ['xen-block', 'xvda', 'm1', 'tg0'],
    ]);
    expect(c.jobs!.map((j) => [j.device, j.rw, j.bs, j.iodepth, j.runtimeNs, j.verify])).to.deep.equal([
      ['vda', 'randrw', 4096, 4, 1e9, 'crc32c'],
      ['xvda', 'randrw', 4096, 4, 1e9, 'crc32c'],
    ]);
  });

  it('accepts the embedded default', () => {
    const c = valid(defaultConfig('/tmp/x.img'));
    expect(c.devices.map((d) => [d.type, d.throttleGroup])).to.deep.equal([
      ['virtio-blk', 'tg0'],
      ['xen-block', 'tg0'],
    ]);
    expect(c.jobs!.map((j) => j.protocol)).to.deep.equal(['native', 'x86_64-abi']);
    expect(c.jobs!.every((j) => j.runtimeNs === 10e9 && j.verify === 'crc32c' && j.rw === 'randrw')).to.equal(
      true,
    );
  });

  it('points at the JSON path of a reference to a missing object', () => {
    const doc = base();
    (doc.devices as Record<string, unknown>[])[1].iothread = 'io9';
    expect(issues(doc)).to.deep.equal(["devices[1].iothread: no object 'io9'"]);
  });

  it('refuses references to an object of the wrong type', () => {
    const doc = base();
    (doc.devices as Record<string, unknown>[])[0].iothread = 'tg0';
    (doc.devices as Record<string, unknown>[])[1]['throttle-group'] = 'io0';
    expect(issues(doc)).to.deep.equal([
      "devices[0].iothread: object 'tg0' has type 'throttle-group', not 'iothread'",
      "devices[1].throttle-group: object 'io0' has type 'iothread', not 'throttle-group'",
    ]);
  });

  it('collects every problem of the document in one pass', () => {
    const doc = base();
    doc.extra = 1;
    (doc.objects as Record<string, unknown>[]).push({ 'qom-type': 'iothread', id: 'io0' });
    (doc.blockdevs as Record<string, unknown>[]).push({ driver: 'qcow9', 'node-name': 'q' });
    (doc.devices as Record<string, unknown>[])[0]['queue-size'] = 3;
    (doc.devices as Record<string, unknown>[])[0].drive = 'nope';
    (doc.workload as Record<string, unknown>).rw = 'trim';
    const found = issues(doc);
    expect(found).to.include('extra: unknown section (known: objects, blockdevs, devices, workload)');
    expect(found).to.include("objects[2].id: object 'io0' is already defined at objects[0]");
    expect(
      found.some((m) => m.startsWith("blockdevs[2].driver: unknown block driver 'qcow9' (known: ")),
    ).to.equal(true);
    expect(found).to.include('devices[0].queue-size: 3: must be a power of two between 4 and 1024');
    expect(found).to.include("devices[0].drive: no blockdev 'nope'");
    expect(found).to.include("workload.rw: 'trim': must be one of read, write, randread, randwrite, randrw");
    expect(found).to.have.length(6, found.join('\n'));
  });

  it('checks required members, JSON types and unknown properties', () => {
    const doc = {
      objects: [{ id: 'x' }, 'iothread'],
      blockdevs: [{ driver: 'memory', size: 512 }],
      devices: [
        { driver: 'virtio-blk', drive: 'm0', colour: 'red' },
        { driver: 'e1000', id: 'n0' },
      ],
    };
    expect(issues(doc)).to.deep.equal([
      'objects[0].qom-type: required',
      'objects[1]: expected an object, got a string',
      'blockdevs[0].node-name: required',
      'devices[0].id: required',
      `devices[0].colour: unknown property (known: ${Object.keys(schema.deviceTypes.get('virtio-blk')!).join(', ')})`,
      "devices[0].drive: no blockdev 'm0'",
      "devices[1].driver: 'e1000' is not a disk device vmkit run can drive (virtio-blk, xen-block)",
    ]);
  });

  it('requires children given by name to be defined earlier', () => {
    const doc = {
      blockdevs: [
        { driver: 'raw', 'node-name': 'r0', file: 'f0' },
        { driver: 'file', 'node-name': 'f0', filename: 'x.img' },
        { driver: 'raw', 'node-name': 'r1', file: { driver: 'raw', file: 'f9' } },
      ],
    };
    expect(issues(doc)).to.deep.equal([
      "blockdevs[0].file: no blockdev 'f0' defined before this one",
      "blockdevs[2].file.file: no blockdev 'f9' defined before this one",
    ]);
  });

  it('refuses a drive used twice, a bus, and a duplicate xen vdev', () => {
    const doc = base();
    const devices = doc.devices as Record<string, unknown>[];
    devices.push({ driver: 'virtio-blk', id: 'vdb', drive: 'm0', bus: 'virtio-mmio.0' });
    devices.push({ driver: 'xen-block', id: 'xvdb', vdev: 'xvda', drive: 'm0x' });
    (doc.blockdevs as Record<string, unknown>[]).push({ driver: 'memory', 'node-name': 'm0x', size: 4096 });
    expect(issues(doc)).to.deep.equal([
      'devices[2].bus: vmkit run plugs devices itself (a virtio-mmio slot per virtio device, the Xen bus for xen-block)',
      "devices[2].drive: blockdev 'm0' is already the drive of device 'vda'",
      "devices[3].vdev: 'xvda' is the same disk as device 'xvda's",
    ]);
  });

  it('validates workload options and jobs', () => {
    const doc = base();
    doc.workload = {
      bs: 1000,
      iodepth: 0,
      rwmixread: 101,
      runtime: '10 parsecs',
      verify: 'md5',
      jobs: [
        { device: 'vda', protocol: 'x86_64-abi' },
        { device: 'vdz' },
        { device: 'xvda', io_size: '1Q', color: 1 },
        { device: 'xvda' },
      ],
    };
    expect(issues(doc)).to.deep.equal([
      'workload.bs: 1000: must be a multiple of 512 between 512 and 1024K',
      'workload.iodepth: 0: must be between 1 and 256',
      'workload.rwmixread: 101: must be between 0 and 100',
      "workload.runtime: '10 parsecs': expected seconds, or a number with unit 'ms', 's', 'm' or 'h'",
      "workload.verify: 'md5': must be one of crc32c, none",
      "workload.jobs[1].device: no device 'vdz'",
      "workload.jobs[3].device: device 'xvda' already has a job (workload.jobs[2])",
      "workload.jobs[0].protocol: only xen-block devices have a ring protocol ('vda' is virtio-blk)",
      "workload.jobs[2].io_size: '1Q': expected a byte count or a size with a K, M, G or T suffix",
      'workload.jobs[2].color: unknown option (known: rw, rwmixread, bs, iodepth, offset, size, io_size, runtime, verify, randseed, protocol, device)',
    ]);
  });

  it('keeps iodepth within a virtio queue', () => {
    const doc = base();
    (doc.devices as Record<string, unknown>[])[0]['queue-size'] = 16;
    (doc.workload as Record<string, unknown>).iodepth = 32;
    expect(issues(doc)).to.deep.equal([
      "workload.iodepth: 32 is more than the queue of virtio-blk 'vda' (queue-size 16)",
    ]);
  });

  it('keeps a xen-block job within the guest grant table', () => {
    const doc = base();
    (doc.workload as Record<string, unknown>).bs = '1M';
    (doc.workload as Record<string, unknown>).iodepth = 17;
    expect(issues(doc)).to.deep.equal([
      'workload.iodepth: 17 requests of 1048576 bytes need 4352 granted pages; a xen-block job may use 4096',
    ]);
  });

  it('reports JSON syntax errors with line and column', () => {
    try {
      parseConfigJson('{\n  "objects": [,]\n}');
      expect.fail('no error');
    } catch (e) {
      expect(e).to.be.instanceOf(ConfigIssues);
      expect((e as ConfigIssues).issues[0].message).to.equal(
        'invalid JSON: unexpected "," (line 2, column 15)',
      );
    }
  });

  it('accepts a config without workload (an idle machine)', () => {
    const doc = base();
    delete doc.workload;
    expect(valid(doc).jobs).to.equal(undefined);
  });
});
