import { expect } from 'chai';
import fc from 'fast-check';
import {
  ConfigError,
  PropertyError,
  formatSize,
  formatValue,
  parseSize,
  tryParseSize,
  validateProperties,
  type LinkResolver,
  type PropertySchema,
} from '../src/index.js';

const links: LinkResolver = {
  objectType: (id) => ({ io0: 'iothread', tg0: 'throttle-group' })[id],
  hasBlockdev: (id) => id === 'disk0',
};

const noBlockLayer: LinkResolver = { objectType: () => undefined, hasBlockdev: () => undefined };

const schema = {
  'queue-size': { kind: 'int', min: 4, max: 1024, powerOfTwo: true, default: 256 },
  'num-queues': { kind: 'int', min: 1 },
  'seg-max': { kind: 'int', max: 254 },
  order: { kind: 'int', powerOfTwo: true },
  count: { kind: 'int' },
  'logical-block-size': { kind: 'size', min: 512, max: 2 * 1024 * 1024, powerOfTwo: true, default: 512 },
  'discard-granularity': { kind: 'size' },
  'write-cache': { kind: 'bool', default: true },
  serial: { kind: 'string', pattern: /^[A-Za-z0-9]{0,20}$/ },
  name: { kind: 'string' },
  werror: { kind: 'enum', values: ['report', 'ignore', 'stop', 'enospc'], default: 'enospc' },
  iothread: { kind: 'link', target: 'iothread' },
  drive: { kind: 'link', target: 'blockdev', required: true },
  'even-only': { kind: 'int', check: (v: number) => (v % 2 === 0 ? undefined : 'must be even') },
} as const satisfies PropertySchema;

function validate(input: Record<string, unknown>, resolver: LinkResolver = links) {
  return validateProperties("virtio-blk 'vda'", schema, { drive: 'disk0', ...input }, resolver);
}

function errorOf(fn: () => unknown): Error {
  try {
    fn();
  } catch (e) {
    if (e instanceof Error) return e;
  }
  throw new Error('expected a throw');
}

function messageOf(input: Record<string, unknown>, resolver?: LinkResolver): string {
  return errorOf(() => validate(input, resolver)).message;
}

describe('machine: properties', () => {
  describe('sizes', () => {
    it('parses bytes and K/M/G/T/P/E suffixes in powers of 1024, case-insensitive', () => {
      expect(parseSize('0')).to.equal(0);
      expect(parseSize('512')).to.equal(512);
      expect(parseSize('64K')).to.equal(65536);
      expect(parseSize('64k')).to.equal(65536);
      expect(parseSize('1M')).to.equal(1 << 20);
      expect(parseSize('1G')).to.equal(2 ** 30);
      expect(parseSize('2T')).to.equal(2 * 2 ** 40);
      expect(parseSize('1P')).to.equal(2 ** 50);
      expect(parseSize('4096B')).to.equal(4096);
      expect(parseSize('1.5G')).to.equal(1.5 * 2 ** 30);
      expect(parseSize('0x1000')).to.equal(4096);
      expect(parseSize(' 8 M ')).to.equal(8 << 20);
    });

    it('refuses garbage, negative, fractional bytes and sizes beyond 2^53', () => {
      for (const bad of ['', 'K', '12Q', '-1', '1.5', '0.3K', '1e3', '1KK', '16E', '0x1.8K', 'abc']) {
        expect(tryParseSize(bad), bad).to.equal(undefined);
      }
      expect(() => parseSize('12Q')).to.throw(
        ConfigError,
        "invalid size '12Q': must be a byte count with an optional K, M, G, T, P or E suffix",
      );
    });

    it('formats with the largest exact unit', () => {
      expect(formatSize(0)).to.equal('0');
      expect(formatSize(512)).to.equal('512');
      expect(formatSize(1536)).to.equal('1536');
      expect(formatSize(65536)).to.equal('64K');
      expect(formatSize(2 * 1024 * 1024)).to.equal('2M');
      expect(formatSize(2 ** 40)).to.equal('1T');
    });

    it('formatSize and parseSize round-trip (property)', () => {
      fc.assert(
        fc.property(
          fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
          (n) => parseSize(formatSize(n)) === n,
        ),
      );
    });
  });

  describe('formatValue', () => {
    it('quotes strings and prints numbers, booleans and others plainly', () => {
      expect(formatValue('io9')).to.equal("'io9'");
      expect(formatValue(3)).to.equal('3');
      expect(formatValue(false)).to.equal('false');
      expect(formatValue(null)).to.equal('null');
      expect(formatValue([1, 2])).to.equal('[1,2]');
      expect(formatValue(5n)).to.equal('5n');
      const cyclic: { self?: unknown } = {};
      cyclic.self = cyclic;
      expect(formatValue(cyclic)).to.equal('[object Object]');
    });
  });

  describe('validation', () => {
    it('applies defaults and parses strings as on the command line', () => {
      const v = validate({
        'num-queues': '4',
        'discard-granularity': '64K',
        'write-cache': 'off',
        order: '0x10',
      });
      expect(v).to.deep.equal({
        'queue-size': 256,
        'num-queues': 4,
        'seg-max': undefined,
        order: 16,
        count: undefined,
        'logical-block-size': 512,
        'discard-granularity': 65536,
        'write-cache': false,
        serial: undefined,
        name: undefined,
        werror: 'enospc',
        iothread: undefined,
        drive: 'disk0',
        'even-only': undefined,
      });
      expect(validate({ 'write-cache': 'yes', werror: 'stop', iothread: 'io0', count: -3 })).to.include({
        'write-cache': true,
        werror: 'stop',
        iothread: 'io0',
        count: -3,
      });
    });

    it('treats an undefined value as absent', () => {
      expect(validate({ iothread: undefined, 'queue-size': undefined })['queue-size']).to.equal(256);
    });

    it('reports int range with the power-of-two rule: the example of the issue', () => {
      const e = errorOf(() => validate({ 'queue-size': 3 }));
      expect(e).to.be.instanceOf(PropertyError).and.instanceOf(ConfigError);
      expect(e.message).to.equal(
        "virtio-blk 'vda': property 'queue-size' = 3: must be a power of two between 4 and 1024",
      );
      const pe = e as PropertyError;
      expect([pe.owner, pe.property, pe.value, pe.rule]).to.deep.equal([
        "virtio-blk 'vda'",
        'queue-size',
        3,
        'must be a power of two between 4 and 1024',
      ]);
      // In range but not a power of two, and a power of two out of range, break the same rule.
      expect(messageOf({ 'queue-size': 384 })).to.equal(
        "virtio-blk 'vda': property 'queue-size' = 384: must be a power of two between 4 and 1024",
      );
      expect(messageOf({ 'queue-size': '2048' })).to.equal(
        "virtio-blk 'vda': property 'queue-size' = '2048': must be a power of two between 4 and 1024",
      );
    });

    it('reports one-sided ranges and power of two alone', () => {
      expect(messageOf({ 'num-queues': 0 })).to.equal(
        "virtio-blk 'vda': property 'num-queues' = 0: must be at least 1",
      );
      expect(messageOf({ 'seg-max': 255 })).to.equal(
        "virtio-blk 'vda': property 'seg-max' = 255: must be at most 254",
      );
      expect(messageOf({ order: 6 })).to.equal(
        "virtio-blk 'vda': property 'order' = 6: must be a power of two",
      );
      expect(messageOf({ order: 0 })).to.equal(
        "virtio-blk 'vda': property 'order' = 0: must be a power of two",
      );
    });

    it('reports wrong types for int', () => {
      for (const bad of [1.5, '1.5', 'ten', true, 2 ** 53, '', null]) {
        expect(messageOf({ count: bad })).to.equal(
          `virtio-blk 'vda': property 'count' = ${formatValue(bad)}: must be an integer`,
        );
      }
    });

    it('reports size parse errors and size ranges in size units', () => {
      expect(messageOf({ 'discard-granularity': '12Q' })).to.equal(
        "virtio-blk 'vda': property 'discard-granularity' = '12Q': must be a byte count with an optional K, M, G, T, P or E suffix",
      );
      expect(messageOf({ 'discard-granularity': -1 })).to.equal(
        "virtio-blk 'vda': property 'discard-granularity' = -1: must be a byte count with an optional K, M, G, T, P or E suffix",
      );
      expect(messageOf({ 'logical-block-size': '4M' })).to.equal(
        "virtio-blk 'vda': property 'logical-block-size' = '4M': must be a power of two between 512 and 2M",
      );
      expect(messageOf({ 'logical-block-size': 1000 })).to.equal(
        "virtio-blk 'vda': property 'logical-block-size' = 1000: must be a power of two between 512 and 2M",
      );
      expect(validate({ 'logical-block-size': '4K' })['logical-block-size']).to.equal(4096);
    });

    it('reports bool, string, pattern and enum errors', () => {
      expect(messageOf({ 'write-cache': 'maybe' })).to.equal(
        "virtio-blk 'vda': property 'write-cache' = 'maybe': must be a boolean (true/false, on/off, yes/no)",
      );
      expect(messageOf({ 'write-cache': 1 })).to.equal(
        "virtio-blk 'vda': property 'write-cache' = 1: must be a boolean (true/false, on/off, yes/no)",
      );
      expect(messageOf({ name: 7 })).to.equal("virtio-blk 'vda': property 'name' = 7: must be a string");
      expect(messageOf({ serial: 'has space' })).to.equal(
        "virtio-blk 'vda': property 'serial' = 'has space': must match /^[A-Za-z0-9]{0,20}$/",
      );
      expect(messageOf({ werror: 'explode' })).to.equal(
        "virtio-blk 'vda': property 'werror' = 'explode': must be one of 'report', 'ignore', 'stop', 'enospc'",
      );
    });

    it('runs a custom check after the built-in rules', () => {
      expect(messageOf({ 'even-only': 3 })).to.equal(
        "virtio-blk 'vda': property 'even-only' = 3: must be even",
      );
      expect(validate({ 'even-only': '4' })['even-only']).to.equal(4);
    });

    it('reports links to missing or mistyped objects and missing blockdevs', () => {
      expect(messageOf({ iothread: 'io9' })).to.equal(
        "virtio-blk 'vda': property 'iothread' = 'io9': no object 'io9'",
      );
      expect(messageOf({ iothread: 'tg0' })).to.equal(
        "virtio-blk 'vda': property 'iothread' = 'tg0': object 'tg0' has type 'throttle-group', not 'iothread'",
      );
      expect(messageOf({ iothread: 5 })).to.equal(
        "virtio-blk 'vda': property 'iothread' = 5: must be the id of an object of type 'iothread'",
      );
      expect(messageOf({ drive: 'disk9' })).to.equal(
        "virtio-blk 'vda': property 'drive' = 'disk9': no blockdev 'disk9'",
      );
      expect(messageOf({ drive: '' })).to.equal(
        "virtio-blk 'vda': property 'drive' = '': must be the id of a blockdev",
      );
      expect(messageOf({}, noBlockLayer)).to.equal(
        "virtio-blk 'vda': property 'drive' = 'disk0': no blockdev 'disk0' (no block layer: load blockLayerPlugin)",
      );
    });

    it('reports a missing required property and unknown properties with the known ones', () => {
      const e = errorOf(() => validateProperties("virtio-blk 'vda'", schema, {}, links));
      expect(e).to.be.instanceOf(ConfigError);
      expect(e.message).to.equal("virtio-blk 'vda': property 'drive' is required");
      expect(messageOf({ queue_size: 4 })).to.equal(
        "virtio-blk 'vda': unknown property 'queue_size' (known: " + Object.keys(schema).join(', ') + ')',
      );
      expect(errorOf(() => validateProperties("toy 't'", {}, { x: 1 }, links)).message).to.equal(
        "toy 't': unknown property 'x' (known: none)",
      );
    });

    it('reports unknown properties before other errors', () => {
      expect(messageOf({ 'queue-size': 3, bogus: 1 })).to.match(/unknown property 'bogus'/);
    });

    it('accepts every valid int in range and refuses every one outside (property)', () => {
      fc.assert(
        fc.property(fc.integer({ min: -5000, max: 5000 }), (n) => {
          const ok = n >= 4 && n <= 1024 && (n & (n - 1)) === 0;
          try {
            return validate({ 'queue-size': n })['queue-size'] === n && ok;
          } catch (e) {
            return !ok && e instanceof PropertyError;
          }
        }),
      );
    });
  });
});
