import { expect } from 'chai';
import { AioContext, ConfigError, VirtualClock } from '@vmkit/core';
import {
  applyThrottleLimits,
  blockIoThrottleToConfig,
  BucketType,
  createThrottleGroupObject,
  THROTTLE_GROUP_PROPERTY_NAMES,
  throttleConfigInit,
  throttleConfigToBlockIoThrottle,
  throttleConfigToLimits,
  ThrottleDirection,
  ThrottleGroupMember,
  ThrottleGroupObject,
  ThrottleGroupRegistry,
  throttleLimitsToConfig,
  validateThrottleConfig,
  type ThrottleGroupPropertyName,
} from '../src/throttle/index.js';

function setup(): { clock: VirtualClock; ctx: AioContext; registry: ThrottleGroupRegistry } {
  const clock = new VirtualClock();
  return { clock, ctx: new AioContext({ clock }), registry: new ThrottleGroupRegistry(clock) };
}

describe('throttle: QAPI ThrottleLimits and block_set_io_throttle arguments', () => {
  it('throttle_limits_to_config applies only the members given', () => {
    const cfg = throttleConfigInit();
    cfg.buckets[BucketType.opsWrite].avg = 99;
    throttleLimitsToConfig(
      { 'bps-read': 100, 'bps-read-max': 200, 'bps-read-max-length': 3, 'iops-total': 20, 'iops-size': 8192 },
      cfg,
    );
    expect(cfg.buckets[BucketType.bpsRead]).to.include({ avg: 100, max: 200, burstLength: 3 });
    expect(cfg.buckets[BucketType.opsTotal].avg).to.equal(20);
    expect(cfg.buckets[BucketType.opsWrite].avg, 'untouched').to.equal(99);
    expect(cfg.opSize).to.equal(8192);
  });

  it('a burst length above UINT_MAX is refused with "<name>-max-length value must be in the range"', () => {
    const cfg = throttleConfigInit();
    expect(() => throttleLimitsToConfig({ 'iops-read-max-length': 2 ** 32 }, cfg))
      .to.throw(ConfigError)
      .with.property('message', 'iops-read-max-length value must be in the range [0, 4294967295]');
    expect(applyThrottleLimits({ 'bps-total-max-length': 4294967295 }, cfg)).to.equal(undefined);
    // QEMU checks bps-total, bps-read, bps-write, then the iops ones: the first in that order wins.
    expect(
      applyThrottleLimits({ 'iops-total-max-length': 2 ** 40, 'bps-write-max-length': 2 ** 40 }, cfg),
    ).to.equal('bps-write-max-length value must be in the range [0, 4294967295]');
  });

  it('negative values pass the conversion and fail throttle_is_valid as huge uint64 values', () => {
    const cfg = throttleConfigInit();
    throttleLimitsToConfig({ 'bps-total': -1 }, cfg);
    expect(validateThrottleConfig(cfg)).to.equal('bps/iops/max values must be within [0, 1000000000000000]');
    const c2 = throttleConfigInit();
    throttleLimitsToConfig({ 'bps-total': 10, 'bps-total-max': 20, 'bps-total-max-length': -1 }, c2);
    expect(validateThrottleConfig(c2)).to.equal('burst length too high for this burst rate');
  });

  it('throttle_config_to_limits reports every member; the round trip is exact', () => {
    const cfg = throttleConfigInit();
    throttleLimitsToConfig(
      { 'iops-write': 5, 'iops-write-max': 50, 'iops-write-max-length': 9, 'iops-size': 4096 },
      cfg,
    );
    const limits = throttleConfigToLimits(cfg);
    expect(Object.keys(limits)).to.have.length(19);
    expect(limits).to.include({
      'iops-write': 5,
      'iops-write-max': 50,
      'iops-write-max-length': 9,
      'iops-size': 4096,
      'bps-total': 0,
      'bps-total-max-length': 1,
    });
    const back = throttleConfigInit();
    throttleLimitsToConfig(limits, back);
    expect(back).to.deep.equal(cfg);
  });

  it('block_set_io_throttle arguments map onto the six buckets', () => {
    const cfg = blockIoThrottleToConfig({
      bps: 0,
      bps_rd: 1000,
      bps_wr: 2000,
      iops: 30,
      iops_rd: 0,
      iops_wr: 0,
      bps_rd_max: 5000,
      bps_rd_max_length: 7,
      iops_max: 60,
      iops_size: 4096,
      group: 'g',
    });
    expect(cfg.buckets.map((b) => b.avg)).to.deep.equal([0, 1000, 2000, 30, 0, 0]);
    expect(cfg.buckets.map((b) => b.max)).to.deep.equal([0, 5000, 0, 60, 0, 0]);
    expect(cfg.buckets.map((b) => b.burstLength)).to.deep.equal([1, 7, 1, 1, 1, 1]);
    expect(cfg.opSize).to.equal(4096);
    expect(validateThrottleConfig(cfg)).to.equal(undefined);
  });

  it('query-block reports the averages, *_max and *_max_length only with a burst rate, iops_size when set', () => {
    const cfg = blockIoThrottleToConfig({
      bps: 0,
      bps_rd: 1000,
      bps_wr: 0,
      iops: 0,
      iops_rd: 0,
      iops_wr: 0,
      bps_rd_max: 5000,
      bps_rd_max_length: 7,
    });
    expect(throttleConfigToBlockIoThrottle(cfg, 'grp')).to.deep.equal({
      bps: 0,
      bps_rd: 1000,
      bps_wr: 0,
      iops: 0,
      iops_rd: 0,
      iops_wr: 0,
      bps_rd_max: 5000,
      bps_rd_max_length: 7,
      group: 'grp',
    });
    cfg.opSize = 512;
    expect(throttleConfigToBlockIoThrottle(cfg, 'grp').iops_size).to.equal(512);
  });
});

describe('throttle: the throttle-group object', () => {
  it('has the x-* properties in QEMU order, then limits', () => {
    expect(THROTTLE_GROUP_PROPERTY_NAMES).to.have.length(20);
    expect(THROTTLE_GROUP_PROPERTY_NAMES.slice(0, 4)).to.deep.equal([
      'x-iops-total',
      'x-iops-total-max',
      'x-iops-total-max-length',
      'x-iops-read',
    ]);
    expect(THROTTLE_GROUP_PROPERTY_NAMES.slice(-3)).to.deep.equal([
      'x-bps-write-max-length',
      'x-iops-size',
      'limits',
    ]);
  });

  it('object-add: properties set the configuration, completion lists the group under its id', () => {
    const { registry } = setup();
    const obj = createThrottleGroupObject(registry, 'tg0', {
      'x-bps-total': 1024,
      limits: { 'iops-read': 10, 'iops-read-max': 20, 'iops-read-max-length': 2 },
    });
    expect(obj.isInitialized).to.equal(true);
    expect(registry.byName('tg0')).to.equal(obj.group);
    expect(obj.getProperty('x-bps-total')).to.equal(1024);
    expect(obj.getProperty('x-iops-read-max-length')).to.equal(2);
    expect(obj.getLimits()).to.include({ 'bps-total': 1024, 'iops-read': 10, 'iops-read-max': 20 });
    expect(obj.group.ts.enabled).to.equal(true);
  });

  it('individual properties cannot be set after initialization', () => {
    const { registry } = setup();
    const obj = createThrottleGroupObject(registry, 'tg0', { 'x-iops-total': 5 });
    expect(() => obj.setProperty('x-iops-total', 6))
      .to.throw(ConfigError)
      .with.property('message', 'Property cannot be set after initialization');
    expect(obj.getProperty('x-iops-total')).to.equal(5);
  });

  it('property values: negative, too long a burst, non-integer and unknown names are refused', () => {
    const { registry } = setup();
    const obj = new ThrottleGroupObject(registry, 'tg1');
    expect(() => obj.setProperty('x-bps-read', -1))
      .to.throw(ConfigError)
      .with.property('message', 'Property values cannot be negative');
    // QEMU's text verbatim, without the space before "range".
    expect(() => obj.setProperty('x-bps-total-max-length', 2 ** 32))
      .to.throw(ConfigError)
      .with.property('message', 'x-bps-total-max-length value must be in therange [0, 4294967295]');
    expect(() => obj.setProperty('x-bps-read', 1.5))
      .to.throw(ConfigError)
      .with.property('message', "Invalid parameter type for 'x-bps-read', expected: integer");
    expect(() => obj.setProperty('x-nope' as ThrottleGroupPropertyName, 1))
      .to.throw(ConfigError)
      .with.property('message', "Property 'throttle-group.x-nope' not found");
    obj.setProperty('x-bps-total-max-length', 4294967295);
    expect(obj.getProperty('x-bps-total-max-length')).to.equal(4294967295);
  });

  it('completion fails with the throttle_is_valid text; the failed object does not take the name', () => {
    const { registry } = setup();
    expect(() => createThrottleGroupObject(registry, 'bad', { 'x-bps-total': 10, 'x-bps-read': 10 }))
      .to.throw(ConfigError)
      .with.property(
        'message',
        'bps/iops/max total values and read/write values cannot be used at the same time',
      );
    expect(registry.exists('bad')).to.equal(false);
    expect(() => createThrottleGroupObject(registry, 'bad', { 'x-iops-size': 4096 }))
      .to.throw(ConfigError)
      .with.property('message', 'iops size requires an iops value to be set');
    createThrottleGroupObject(registry, 'bad', { 'x-iops-size': 4096, 'x-iops-total': 1 });
    expect(registry.exists('bad')).to.equal(true);
  });

  it('a duplicate name is refused, whether the group came from an object or from a member', () => {
    const { registry, ctx } = setup();
    createThrottleGroupObject(registry, 'tg0');
    expect(() => createThrottleGroupObject(registry, 'tg0'))
      .to.throw(ConfigError)
      .with.property('message', 'A group with this name already exists');
    const m = new ThrottleGroupMember('blk');
    m.register(registry, 'implicit', ctx);
    expect(() => createThrottleGroupObject(registry, 'implicit'))
      .to.throw(ConfigError)
      .with.property('message', 'A group with this name already exists');
  });

  it('members join the object group and see its limits; deletion waits until no member is left', () => {
    const { registry, ctx } = setup();
    const obj = createThrottleGroupObject(registry, 'tg0', { 'x-iops-total': 10 });
    const m = new ThrottleGroupMember('blk');
    m.register(registry, 'tg0', ctx);
    expect(m.group).to.equal(obj.group);
    expect(obj.group.refcount).to.equal(2);
    expect(m.getConfig().buckets[BucketType.opsTotal].avg).to.equal(10);
    expect(obj.canBeDeleted).to.equal(false);
    expect(() => obj.delete())
      .to.throw(ConfigError)
      .with.property('message', "object 'tg0' is in use, can not be deleted");
    m.unregister();
    expect(registry.exists('tg0'), 'the object still holds the group').to.equal(true);
    expect(obj.canBeDeleted).to.equal(true);
    obj.delete();
    expect(registry.exists('tg0')).to.equal(false);
    expect(obj.canBeDeleted).to.equal(false);
    // The name is free again.
    createThrottleGroupObject(registry, 'tg0');
  });

  it('limits can be changed after completion: the whole group sees it, levels restart at 0', () => {
    const { registry, ctx, clock } = setup();
    const obj = createThrottleGroupObject(registry, 'tg0', { 'x-iops-read': 10 });
    const m = new ThrottleGroupMember('blk');
    m.register(registry, 'tg0', ctx);
    expect(m.intercept(512, ThrottleDirection.read)).to.equal(undefined);
    expect(obj.group.ts.cfg.buckets[BucketType.opsRead].level).to.equal(1);
    obj.setLimits({ 'iops-read': 100, 'bps-write': 4096 });
    expect(m.getConfig().buckets[BucketType.opsRead].avg).to.equal(100);
    expect(m.getConfig().buckets[BucketType.bpsWrite].avg).to.equal(4096);
    expect(obj.group.ts.cfg.buckets[BucketType.opsRead].level).to.equal(0);
    expect(obj.group.ts.previousLeak).to.equal(clock.now());
    // vmkit refuses what QEMU would silently accept here: an invalid combination.
    expect(() => obj.setLimits({ 'iops-total': 5 }))
      .to.throw(ConfigError)
      .with.property(
        'message',
        'bps/iops/max total values and read/write values cannot be used at the same time',
      );
    expect(() => obj.setLimits({ 'iops-read-max-length': 2 ** 33 }))
      .to.throw(ConfigError)
      .with.property('message', 'iops-read-max-length value must be in the range [0, 4294967295]');
    expect(m.getConfig().buckets[BucketType.opsTotal].avg).to.equal(0);
    m.unregister();
  });
});
