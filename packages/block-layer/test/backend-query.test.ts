import { expect } from 'chai';
import { BlockBackend, BucketType, blockBackends, throttleConfigInit } from '../src/index.js';
import { bbNode, newEnv } from './helpers-backend/bb-driver.js';

describe('BlockBackend queries (query-block, query-blockstats)', () => {
  it('query-block entry: device, qdev, removable, locked, tray, io-status and the inserted node', async () => {
    const env = newEnv();
    await bbNode(env.graph, 'file0', 65536);
    const fmt = await env.graph.openNode({ driver: 'raw', 'node-name': 'disk0', file: 'file0' });
    const blk = BlockBackend.withNode(fmt);
    blockBackends(env.graph).monitorAdd(blk, 'drive0');
    blk.attachDev({}, 'cd0');
    blk.setDevOps({ changeMedia() {}, isTrayOpen: () => false, isMediumLocked: () => true });
    blk.iostatusEnable();
    blk.ioLimitsEnable('grp');
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.opsTotal].avg = 100;
    cfg.buckets[BucketType.bpsTotal].avg = 50;
    blk.setIoLimits(cfg);
    const info = blk.queryBlock();
    expect(info).to.deep.include({
      device: 'drive0',
      qdev: 'cd0',
      type: 'unknown',
      removable: true,
      locked: true,
      tray_open: false,
      'io-status': 'ok',
    });
    expect(info.inserted).to.deep.include({
      file: 'bbtest://',
      'node-name': 'disk0',
      ro: false,
      drv: 'raw',
      backing_file_depth: 0,
      encrypted: false,
      detect_zeroes: 'off',
      bps: 50,
      iops: 100,
      bps_rd: 0,
      group: 'grp',
      write_threshold: 0,
    });
    expect(info.inserted!.cache).to.deep.equal({ writeback: true, direct: false, 'no-flush': false });
    expect(info.inserted!.image).to.deep.include({
      filename: 'bbtest://',
      format: 'raw',
      'virtual-size': 65536,
    });
    expect(info.inserted).to.not.have.property('bps_max');
    await blk.ioLimitsDisable();
  });

  it('query-block without medium has no `inserted`, and no io-status unless enabled', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    const info = blk.queryBlock();
    expect(info).to.deep.equal({ device: '', type: 'unknown', removable: true, locked: false });
  });

  it('query-blockstats entry: the BlockBackend stats, its node and the parent (file) stats', async () => {
    const env = newEnv();
    await bbNode(env.graph, 'file0', 65536);
    const fmt = await env.graph.openNode({ driver: 'raw', 'node-name': 'disk0', file: 'file0' });
    const blk = BlockBackend.withNode(fmt);
    blk.attachDev({}, 'vda');
    await blk.write(4096, new Uint8Array(512));
    const s = blk.queryBlockstats();
    expect(s.device).to.equal('');
    expect(s.qdev).to.equal('vda');
    expect(s['node-name']).to.equal('disk0');
    expect(s.stats.wr_operations).to.equal(1);
    expect(s.stats.wr_highest_offset).to.equal(4608);
    expect(s.parent!['node-name']).to.equal('file0');
    expect(s.parent!.stats.wr_operations).to.equal(0);
    expect(s.parent!.stats.wr_highest_offset).to.equal(4608);
    expect(s.parent!.stats.account_failed).to.equal(false);
    expect(s.parent!.parent).to.equal(undefined);
    expect(Object.keys(s)).to.deep.equal(['device', 'qdev', 'node-name', 'stats', 'parent']);
  });
});
