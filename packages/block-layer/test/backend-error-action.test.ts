import { expect } from 'chai';
import { Errno, type BlockIoErrorEvent } from '@vmkit/core';
import { BlockBackend, blockBackends, errorActionFor, type BlockdevOnError } from '../src/index.js';
import { bbBackend, newEnv } from './helpers-backend/bb-driver.js';

describe('BlockBackend error actions and iostatus (reference §4.4, §5)', () => {
  it('policy → action: enospc stops on ENOSPC only; stop, report and ignore map to themselves', () => {
    const table: Array<[BlockdevOnError, number, string]> = [
      ['enospc', Errno.ENOSPC, 'stop'],
      ['enospc', Errno.EIO, 'report'],
      ['enospc', -Errno.ENOSPC, 'stop'],
      ['stop', Errno.EIO, 'stop'],
      ['report', Errno.ENOSPC, 'report'],
      ['ignore', Errno.EIO, 'ignore'],
    ];
    for (const [policy, errno, action] of table)
      expect(errorActionFor(policy, errno), `${policy}/${errno}`).to.equal(action);
  });

  it('defaults: rerror=report, werror=enospc; reads use rerror, everything else werror', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    expect([blk.onReadError, blk.onWriteError]).to.deep.equal(['report', 'enospc']);
    expect(blk.getErrorAction(true, Errno.ENOSPC)).to.equal('report');
    expect(blk.getErrorAction(false, Errno.ENOSPC)).to.equal('stop');
    blk.setOnError('stop', 'ignore');
    expect(blk.getErrorAction(true, Errno.EIO)).to.equal('stop');
    expect(blk.getErrorAction(false, Errno.EIO)).to.equal('ignore');
    expect(blk.getOnError(true)).to.equal('stop');
  });

  it('iostatus is effective only when enabled and some policy can stop', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    expect(blk.iostatusIsEnabled()).to.equal(false);
    blk.iostatusEnable();
    expect(blk.iostatusIsEnabled()).to.equal(true); // werror=enospc
    blk.setOnError('report', 'report');
    expect(blk.iostatusIsEnabled()).to.equal(false);
    blk.setOnError('stop', 'report');
    expect(blk.iostatusIsEnabled()).to.equal(true);
    blk.setOnError('report', 'stop');
    expect(blk.iostatusIsEnabled()).to.equal(true);
    blk.iostatusDisable();
    expect(blk.iostatusIsEnabled()).to.equal(false);
  });

  it('blk_iostatus_set_err only changes an OK status (ENOSPC → nospace, else failed); reset sets OK', () => {
    const env = newEnv();
    const blk = new BlockBackend(env.graph);
    blk.iostatusSetErr(Errno.EIO);
    expect(blk.iostatus).to.equal('ok'); // not enabled
    blk.iostatusEnable();
    blk.iostatusSetErr(Errno.ENOSPC);
    expect(blk.iostatus).to.equal('nospace');
    blk.iostatusSetErr(Errno.EIO);
    expect(blk.iostatus).to.equal('nospace');
    blk.iostatusReset();
    expect(blk.iostatus).to.equal('ok');
    blk.iostatusSetErr(-Errno.EIO);
    expect(blk.iostatus).to.equal('failed');
  });

  it('errorAction raises BLOCK_IO_ERROR for every action, with QMP fields', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    blk.attachDev({}, 'vda');
    const events: BlockIoErrorEvent[] = [];
    const global: BlockIoErrorEvent[] = [];
    blk.events.on('io-error', (e) => events.push(e));
    blockBackends(env.graph).events.on('block-io-error', (e) => global.push(e));
    blk.errorAction('ignore', true, Errno.EIO);
    blk.errorAction('report', false, -Errno.ENOSPC);
    expect(events).to.deep.equal([
      {
        device: 'vda',
        nodeName: 'node0',
        operation: 'read',
        action: 'ignore',
        nospace: false,
        errno: 5,
        reason: 'Input/output error',
      },
      {
        device: 'vda',
        nodeName: 'node0',
        operation: 'write',
        action: 'report',
        nospace: true,
        errno: 28,
        reason: 'No space left on device',
      },
    ]);
    expect(global).to.deep.equal(events);
    blockBackends(env.graph).monitorAdd(blk, 'drive0');
    blk.errorAction('report', true, Errno.EIO);
    expect(events[2].device).to.equal('drive0');
  });

  it('stop: iostatus first, then the event, then the machine stop request', async () => {
    const env = newEnv();
    const { blk } = await bbBackend(env);
    blk.iostatusEnable();
    const log: string[] = [];
    const reg = blockBackends(env.graph);
    reg.requestStop = (reason) => log.push(`stop ${reason} (iostatus ${blk.iostatus})`);
    blk.events.on('io-error', (e) => log.push(`event ${e.action} (iostatus ${blk.iostatus})`));
    blk.errorAction(blk.getErrorAction(false, Errno.ENOSPC), false, Errno.ENOSPC);
    expect(log).to.deep.equal(['event stop (iostatus nospace)', 'stop io-error (iostatus nospace)']);
    blk.errorAction('report', false, Errno.EIO);
    expect(log.length).to.equal(3);
  });
});
