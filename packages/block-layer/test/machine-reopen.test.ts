import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect } from 'chai';
import { IOVector, Machine, definePlugin } from '@vmkit/core';
import { BlockBackend, Perm, blockLayerOf, type BlockDriverState, type MemoryState } from '../src/index.js';
import { bbState, bbTestDriver, settle } from './helpers-backend/bb-driver.js';
import { blockMachine, rejects } from './helpers/machine.js';
import { reopenableDriver, type ReopenableState } from './helpers/reopenable-driver.js';

const testDrivers = definePlugin('test-drivers', (ctx) => {
  ctx.blockDriver(bbTestDriver);
  ctx.blockDriver(reopenableDriver);
});

/** Every edge of the graph with its permissions, for "nothing changed" checks. */
function graphState(m: Machine): string[] {
  const out: string[] = [];
  for (const bs of blockLayerOf(m).graph.nodes()) {
    out.push(`${bs.nodeName} ro=${bs.readOnly} refs=${bs.refcount} q=${bs.quiesceCounter}`);
    for (const c of bs.parents)
      out.push(`  ${c.parentDescription()} -${c.name}-> ${bs.nodeName} ${c.perm}/${c.sharedPerm}`);
  }
  return out;
}

function mem(bs: BlockDriverState): MemoryState {
  return bs.opaque as MemoryState;
}

describe('machine: blockdev-reopen', () => {
  it('refuses what cannot change, naming the option', async () => {
    const { m } = await blockMachine(testDrivers);
    await m.blockdevAdd({ driver: 'null-co', nodeName: 'n0', size: 4096 });
    await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'n0' });
    const before = graphState(m);
    await rejects(m.blockdevReopen({ driver: 'raw' }), 'node-name not specified');
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'zz' }),
      "Failed to find node with node-name='zz'",
    );
    await rejects(
      m.blockdevReopen({ driver: 'null-co', nodeName: 'disk0' }),
      "Cannot change the option 'driver'",
    );
    await rejects(
      m.blockdevReopen({ driver: 'null-co', nodeName: 'n0', size: 8192 }),
      "Cannot change the option 'size'",
    );
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'n0', offset: 512 }),
      "Cannot change the option 'offset'",
    );
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'zz' }),
      "Cannot find device='zz' nor node-name='zz'",
    );
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'disk0' }),
      "Making 'disk0' a file child of 'disk0' would create a cycle",
    );
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 5 }),
      /Invalid parameter type for 'file'/,
    );
    await rejects(
      m.blockdevReopen({ driver: 'null-co', nodeName: 'n0', size: 4096, bogus: 1 }),
      "Invalid parameter 'bogus'",
    );
    // Unchanged options are fine (and so is the same child).
    await m.blockdevReopen([{ driver: 'null-co', nodeName: 'n0', size: 4096 }]);
    await m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'n0' });
    expect(graphState(m)).to.deep.equal(before);
  });

  it('read-only: refused while a BlockBackend writes, the graph left as it was; allowed once nobody writes', async () => {
    const { m } = await blockMachine(testDrivers);
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm0', size: 65536 });
    await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'm0' });
    const blk = m.blockBackend('disk0');
    const before = graphState(m);
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'm0', readOnly: true }),
      'Block node is read-only',
    );
    expect(graphState(m)).to.deep.equal(before);
    await blk.write(0, new Uint8Array([1]));
    blk.setPerm(Perm.CONSISTENT_READ, Perm.ALL);
    await m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'm0', readOnly: true });
    expect(blk.isReadOnly()).to.equal(true);
    // Options not given return to their defaults: read-write again.
    await m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'm0' });
    expect(blk.isReadOnly()).to.equal(false);
  });

  it('driver reopen hooks: prepare, commit; a failing node aborts the nodes prepared before it', async () => {
    const { m } = await blockMachine(testDrivers);
    const a = await m.blockdevAdd({ driver: 'reopenable', nodeName: 'a', size: 4096 });
    const b = await m.blockdevAdd({ driver: 'reopenable', nodeName: 'b', size: 4096 });
    const log = (bs: BlockDriverState): string[] => (bs.opaque as ReopenableState).log;
    await rejects(
      m.blockdevReopen([
        { driver: 'reopenable', nodeName: 'a', size: 8192 },
        { driver: 'reopenable', nodeName: 'b', size: 13 },
      ]),
      'size 13 is unlucky',
    );
    expect(log(a)).to.deep.equal(['prepare 8192', 'abort']);
    expect(log(b)).to.deep.equal(['prepare 13']);
    expect(a.totalBytes).to.equal(4096);
    await m.blockdevReopen([{ driver: 'reopenable', nodeName: 'a', size: 8192 }]);
    expect(log(a).slice(2)).to.deep.equal(['prepare 8192', 'commit']);
    expect(a.totalBytes).to.equal(8192);
    expect(a.driverOptions.size).to.equal(8192);
  });

  it('nested child options reopen the current child (same node only)', async () => {
    const { m } = await blockMachine(testDrivers);
    await m.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk0',
      file: { driver: 'reopenable', nodeName: 'r0', size: 4096 },
    });
    const r0 = blockLayerOf(m).node('r0');
    await m.blockdevReopen({
      driver: 'raw',
      nodeName: 'disk0',
      file: { driver: 'reopenable', nodeName: 'r0', size: 1024 },
    });
    expect((r0.opaque as ReopenableState).size).to.equal(1024);
    expect(blockLayerOf(m).node('disk0').totalBytes).to.equal(1024);
    await rejects(
      m.blockdevReopen({
        driver: 'raw',
        nodeName: 'disk0',
        file: { driver: 'reopenable', nodeName: 'other' },
      }),
      "Cannot change the option 'file'",
    );
  });

  it('swapping `file` under a BlockBackend: new requests go to the new node, the old node is released', async () => {
    const { m } = await blockMachine(testDrivers);
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm1', size: 65536 });
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm2', size: 131072 });
    const disk = await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'm1' });
    const blk = m.blockBackend('disk0');
    let resized = 0;
    blk.attachDev({}, 'vda');
    blk.setDevOps({ resize: () => resized++ });
    await blk.write(0, new Uint8Array([1, 1]));
    await m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'm2' });
    const [m1, m2] = [blockLayerOf(m).node('m1'), blockLayerOf(m).node('m2')];
    expect(disk.file!.bs).to.equal(m2);
    expect(m1.parents).to.deep.equal([]);
    expect(m1.refcount).to.equal(1);
    expect([...(await blk.read(0, 2))]).to.deep.equal([0, 0]);
    await blk.write(0, new Uint8Array([2, 2]));
    expect(mem(m1).chunks.get(0)![0]).to.equal(1);
    expect(mem(m2).chunks.get(0)![0]).to.equal(2);
    // The raw node follows its new file: the device hears of the new length.
    expect(await blk.getLength()).to.equal(131072);
    expect(resized).to.equal(1);
    expect(disk.driverOptions.file).to.equal('m2');
    await m.blockdevDel('m1');
  });

  it('swapping `file` onto a node whose user forbids writers fails and restores the graph untouched', async () => {
    const { m } = await blockMachine(testDrivers);
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm1', size: 65536 });
    const m2 = await m.blockdevAdd({ driver: 'memory', nodeName: 'm2', size: 65536 });
    await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'm1' });
    const blk = m.blockBackend('disk0');
    const reader = BlockBackend.withNode(m2, {
      perm: Perm.CONSISTENT_READ,
      sharedPerm: Perm.CONSISTENT_READ,
    });
    reader.attachDev({}, 'reader');
    const before = graphState(m);
    await rejects(
      m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'm2' }),
      "Conflicts with use by block device 'reader' as 'root', which does not allow 'write, resize' on m2",
    );
    expect(graphState(m)).to.deep.equal(before);
    await blk.write(0, new Uint8Array([5]));
    expect(mem(blockLayerOf(m).node('m1')).chunks.get(0)![0]).to.equal(5);
  });

  it('a nested (not monitor-owned) old child is closed after the swap', async () => {
    const { m } = await blockMachine(testDrivers);
    const disk = await m.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk0',
      file: { driver: 'memory', nodeName: 'inner', size: 4096 },
    });
    const inner = disk.file!.node;
    await m.blockdevAdd({ driver: 'memory', nodeName: 'm2', size: 4096 });
    await m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'm2' });
    expect(inner.deleted).to.equal(true);
    expect(m.blockLayer!.hasBlockdev('inner')).to.equal(false);
  });

  for (const kind of ['memory', 'bbtest'] as const) {
    it(`swapping \`file\` (${kind} → ${kind}) under a busy BlockBackend loses, duplicates and misdirects no request`, async () => {
      const { m, clock } = await blockMachine(testDrivers);
      const size = 1024 * 1024;
      await m.blockdevAdd({ driver: kind, nodeName: 'old', size });
      await m.blockdevAdd({ driver: kind, nodeName: 'new', size });
      await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'old' });
      const layer = blockLayerOf(m);
      const [oldBs, newBs] = [layer.node('old'), layer.node('new')];
      if (kind === 'bbtest') for (const bs of [oldBs, newBs]) bbState(bs).latencyNs = 1000;
      const blk = m.blockBackend('disk0');
      blk.attachDev({}, 'vda');
      const N = 64;
      const completions = new Array<number>(2 * N).fill(0);
      const results = new Array<number>(2 * N).fill(1);
      const submit = (i: number): void => {
        const data = new Uint8Array(4096).fill(i + 1);
        blk.aioPwritev(
          i * 4096,
          IOVector.fromBuffer(data),
          0,
          (idx: number, ret: number) => {
            completions[idx]++;
            results[idx] = ret;
          },
          i,
        );
      };
      for (let i = 0; i < N; i++) submit(i);
      const reopen = m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'new' });
      // These arrive while the BlockBackend is drained: parked, then sent to the new node.
      for (let i = N; i < 2 * N; i++) submit(i);
      await settle();
      await clock.advance(1000);
      await reopen;
      await settle();
      await clock.advance(1000);
      await blk.drain();
      expect(completions).to.deep.equal(new Array<number>(2 * N).fill(1));
      expect(results).to.deep.equal(new Array<number>(2 * N).fill(0));
      if (kind === 'bbtest') for (const bs of [oldBs, newBs]) bbState(bs).latencyNs = 0;
      const read = async (bs: BlockDriverState, i: number): Promise<number> => {
        const b = BlockBackend.withNode(bs, { perm: Perm.CONSISTENT_READ, sharedPerm: Perm.ALL });
        try {
          const buf = await b.read(i * 4096, 4096);
          expect(new Set(buf).size, `block ${i} is not torn`).to.equal(1);
          return buf[0];
        } finally {
          await b.unref();
        }
      };
      for (let i = 0; i < 2 * N; i++) {
        const [o, n] = [await read(oldBs, i), await read(newBs, i)];
        // Each write is in exactly one node: the first half in the old one, the rest in the new one.
        expect([o, n], `write ${i}`).to.deep.equal(i < N ? [i + 1, 0] : [0, i + 1]);
      }
      if (kind === 'bbtest') {
        expect([bbState(oldBs).ops('write').length, bbState(newBs).ops('write').length]).to.deep.equal([
          N,
          N,
        ]);
      }
      expect(blk.inFlight).to.equal(0);
      expect(blk.quiesceCounter).to.equal(0);
    });
  }

  it('swapping `file` between two host files under a busy BlockBackend loses, duplicates and misdirects no request', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vmkit-reopen-'));
    const { m } = await blockMachine(testDrivers);
    try {
      const size = 1024 * 1024;
      const files = ['old.img', 'new.img'].map((f) => path.join(dir, f));
      for (const f of files) fs.writeFileSync(f, new Uint8Array(size));
      await m.blockdevAdd({ driver: 'file', nodeName: 'old', filename: files[0] });
      await m.blockdevAdd({ driver: 'file', nodeName: 'new', filename: files[1] });
      await m.blockdevAdd({ driver: 'raw', nodeName: 'disk0', file: 'old' });
      const blk = m.blockBackend('disk0');
      blk.attachDev({}, 'vda');
      const N = 32;
      const completions = new Array<number>(2 * N).fill(0);
      const submit = (i: number): void => {
        blk.aioPwritev(
          i * 4096,
          IOVector.fromBuffer(new Uint8Array(4096).fill(i + 1)),
          0,
          (idx: number, ret: number) => {
            expect(ret).to.equal(0);
            completions[idx]++;
          },
          i,
        );
      };
      for (let i = 0; i < N; i++) submit(i);
      const reopen = m.blockdevReopen({ driver: 'raw', nodeName: 'disk0', file: 'new' });
      for (let i = N; i < 2 * N; i++) submit(i);
      await reopen;
      await blk.drain();
      await blk.flush();
      expect(completions).to.deep.equal(new Array<number>(2 * N).fill(1));
      const [oldData, newData] = files.map((f) => fs.readFileSync(f));
      for (let i = 0; i < 2 * N; i++) {
        const o = oldData.subarray(i * 4096, (i + 1) * 4096);
        const n = newData.subarray(i * 4096, (i + 1) * 4096);
        const expected = i < N ? [i + 1, 0] : [0, i + 1];
        expect([o[0], n[0]], `write ${i}`).to.deep.equal(expected);
        expect(new Set(o).size + new Set(n).size, `write ${i} is whole`).to.equal(2);
      }
    } finally {
      await m.destroy();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
