import { expect } from 'chai';
import { BlockError, ConfigError, Errno, errnoFromNodeError, errnoName, strerror } from '../src/index.js';

describe('errors', () => {
  it('strerror gives the C library message for positive and negative errno', () => {
    expect(strerror(Errno.EIO)).to.equal('Input/output error');
    expect(strerror(-Errno.ENOMEDIUM)).to.equal('No medium found');
    expect(strerror(9999)).to.equal('Unknown error 9999');
  });

  it('errnoName maps values back to names', () => {
    expect(errnoName(-5)).to.equal('EIO');
    expect(errnoName(28)).to.equal('ENOSPC');
    expect(errnoName(4242)).to.equal(undefined);
  });

  it('maps Node system errors to negative errno, unknown ones to -EIO', () => {
    expect(errnoFromNodeError({ code: 'ENOSPC' })).to.equal(-Errno.ENOSPC);
    expect(errnoFromNodeError({ code: 'EOPNOTSUPP' })).to.equal(-Errno.ENOTSUP);
    expect(errnoFromNodeError(new Error('x'))).to.equal(-Errno.EIO);
    expect(errnoFromNodeError(null)).to.equal(-Errno.EIO);
  });

  it('BlockError carries the positive errno and a readable message', () => {
    const e = new BlockError(-Errno.EIO, 'read failed: Input/output error');
    expect(e).to.be.instanceOf(Error);
    expect(e.errno).to.equal(5);
    expect(e.code).to.equal('EIO');
    expect(e.name).to.equal('BlockError');
    expect(() => BlockError.check(-Errno.ENOSPC, 'write failed')).to.throw(
      BlockError,
      'write failed: No space left on device',
    );
    expect(BlockError.check(7, 'x')).to.equal(7);
  });

  it('ConfigError is a named Error', () => {
    const e = new ConfigError('bad');
    expect(e.name).to.equal('ConfigError');
    expect(e.message).to.equal('bad');
  });
});
