// How option values are read: QEMU's keyval syntax, implied keys, command-line order, the
// export's defaults, and the spelling conversions (limits.*, cache.direct=off).
import { expect } from 'chai';
import { ConfigError } from '@vmkit/core';
import {
  DaemonOptionError,
  parseBlockdevOptions,
  parseDaemonCommandLine,
  parseExportOptions,
  DEFAULT_COALESCE_USECS,
  parseKeyval,
  parseObjectOptions,
} from '../src/index.js';

describe('vmkit-storage-daemon: option values', () => {
  it('keeps --blockdev, --object and --export in command-line order, with = or a separate value', () => {
    const cmd = parseDaemonCommandLine([
      '--object',
      'iothread,id=io0',
      '--blockdev=null-co,node-name=n0',
      '--export',
      'vhost-user-blk,id=e,node-name=n0,addr.type=unix,addr.path=/tmp/s',
      '--blockdev',
      'null-co,node-name=n1',
      '--pidfile',
      '/tmp/p',
    ]);
    expect(cmd.actions.map((a) => a.kind)).to.deep.equal(['object', 'blockdev', 'export', 'blockdev']);
    expect(cmd.pidfile).to.equal('/tmp/p');
    expect(cmd.help).to.equal(false);
  });

  it('--blockdev: implied driver, nested children, booleans for the generic keys', () => {
    const o = parseBlockdevOptions(
      'raw,node-name=d,file.driver=file,file.filename=a,,b.img,file.cache.direct=off',
    );
    expect(o).to.deep.equal({
      driver: 'raw',
      'node-name': 'd',
      file: { driver: 'file', filename: 'a,b.img', cache: { direct: false } },
    });
    expect(parseBlockdevOptions('driver=raw,node-name=d,file=f0,read-only=on')).to.include({
      file: 'f0',
      'read-only': true,
    });
  });

  it('--object: implied qom-type; throttle-group limits.<name> become the x-<name> properties', () => {
    expect(parseObjectOptions('iothread,id=io0,poll-max-ns=0')).to.deep.equal({
      type: 'iothread',
      id: 'io0',
      'poll-max-ns': '0',
    });
    expect(parseObjectOptions('throttle-group,id=tg,limits.iops-total=100,x-bps-read=5')).to.deep.equal({
      type: 'throttle-group',
      id: 'tg',
      'x-iops-total': '100',
      'x-bps-read': '5',
    });
    expect(() => parseObjectOptions('iothread,id=io0,a.b=1')).to.throw(ConfigError, /'a' is unexpected/);
  });

  it('--export: defaults are read-only, one queue, 512-byte blocks, the main loop', () => {
    const e = parseExportOptions(
      parseKeyval('vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=/s', 'type'),
    );
    expect(e).to.deep.equal({
      type: 'vhost-user-blk',
      id: 'e',
      nodeName: 'n',
      addr: { type: 'unix', path: '/s' },
      writable: false,
      numQueues: 1,
      logicalBlockSize: 512,
      iothread: undefined,
      throttleGroup: undefined,
      coalescing: undefined,
    });
  });

  it('--export coalesce-frames/coalesce-usecs (vmkit extension): interrupt coalescing, checked', () => {
    const e = (extra: string) =>
      parseExportOptions(
        parseKeyval(`vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=/s${extra}`, 'type'),
      );
    expect(e(',coalesce-frames=16,coalesce-usecs=200').coalescing).to.deep.equal({
      maxFrames: 16,
      usecs: 200,
    });
    expect(e(',coalesce-frames=8').coalescing).to.deep.equal({ maxFrames: 8, usecs: DEFAULT_COALESCE_USECS });
    expect(e(',coalesce-frames=1').coalescing, '1 frame per interrupt is no coalescing').to.equal(undefined);
    const refused: [string, string][] = [
      [',coalesce-usecs=100', "Parameter 'coalesce-usecs' needs 'coalesce-frames' of 2 or more"],
      [',coalesce-frames=40000', "Parameter 'coalesce-frames' = 40000: must be 0 or 1 (off) or 2..32768"],
      [
        ',coalesce-frames=4,coalesce-usecs=2000000',
        "Parameter 'coalesce-usecs' = 2000000: must be 1..1000000",
      ],
      [',coalesce-frames=4,coalesce-usecs=0', "Parameter 'coalesce-usecs' = 0: must be 1..1000000"],
      [',coalesce-frames=-1', "Parameter 'coalesce-frames' expects a non-negative"],
    ];
    for (const [extra, message] of refused) expect(() => e(extra), extra).to.throw(ConfigError, message);
  });

  it('--export: on/off words, sizes with suffixes, hex counts', () => {
    const e = parseExportOptions(
      parseKeyval(
        'type=vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=/s,writable=yes,logical-block-size=4K,num-queues=0x1',
        'type',
      ),
    );
    expect(e).to.include({ writable: true, logicalBlockSize: 4096, numQueues: 1 });
  });

  it('--export: refuses what QEMU accepts but vmkit does not implement, saying why', () => {
    const t = (extra: string) => () =>
      parseExportOptions(
        parseKeyval(`vhost-user-blk,id=e,node-name=n,addr.type=unix,addr.path=/s,${extra}`, 'type'),
      );
    expect(t('writethrough=on')).to.throw(
      ConfigError,
      /'writethrough' is not supported by vmkit-storage-daemon/,
    );
    expect(t('fixed-iothread=on')).to.throw(ConfigError, /'fixed-iothread' is not supported/);
    expect(t('addr.abstract=on')).to.throw(ConfigError, /'addr.abstract' is not supported/);
    expect(t('addr.bogus=1')).to.throw(ConfigError, "Parameter 'addr.bogus' is unexpected");
  });

  it('--export ids follow the id rule; two exports may not share a socket', () => {
    expect(() =>
      parseExportOptions(parseKeyval('vhost-user-blk,id=1e,node-name=n,addr.type=unix,addr.path=/s', 'type')),
    ).to.throw(ConfigError, /Invalid export id '1e'/);
    const twice = () =>
      parseDaemonCommandLine([
        '--export',
        'vhost-user-blk,id=a,node-name=n,addr.type=unix,addr.path=/s',
        '--export',
        'vhost-user-blk,id=b,node-name=n,addr.type=unix,addr.path=/s',
      ]);
    expect(twice).to.throw(DaemonOptionError, "addr.path '/s' is already used by export 'a'");
  });

  it('a DaemonOptionError message names the option and its value', () => {
    try {
      parseDaemonCommandLine(['--object', 'iothread']);
      expect.fail('accepted');
    } catch (e) {
      expect(e).to.be.instanceOf(DaemonOptionError);
      const err = e as DaemonOptionError;
      expect(err.option).to.equal('--object');
      expect(err.value).to.equal('iothread');
      expect(err.message).to.equal("--object iothread: Parameter 'id' is missing");
    }
  });

  it('boolean options take no value', () => {
    expect(() => parseDaemonCommandLine(['--help=yes'])).to.throw(
      DaemonOptionError,
      "option '--help' doesn't allow an argument",
    );
    expect(parseDaemonCommandLine(['-h']).help).to.equal(true);
  });
});
