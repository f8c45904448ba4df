import { ConfigError, Machine, definePlugin } from '@vmkit/core';
import { blockLayerPlugin, type BlockDriver } from '@vmkit/block-layer';

interface PatternOptions {
  size: number;
}

/** `pattern`: a read-only protocol driver whose byte at offset o is o & 0xff. */
const patternDriver: BlockDriver<PatternOptions, PatternOptions> = {
  name: 'pattern',
  kind: 'protocol',
  parseOptions(options) {
    for (const key of Object.keys(options))
      if (key !== 'size') throw new ConfigError(`Invalid parameter '${key}'`);
    const size = options.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) {
      throw new ConfigError("Parameter 'size' expects a non-negative number below 2^64");
    }
    return { size };
  },
  open(bs, options) {
    if (!bs.openFlags.readOnly) throw new ConfigError('pattern driver does not support writes');
    bs.opaque = options; // per-node state
  },
  getLength: (bs) => bs.opaque.size,
  // Synchronous results (plain numbers) let the generic layer take its fast path.
  preadv(_bs, offset, bytes, qiov, qiovOffset) {
    const chunk = new Uint8Array(Math.min(bytes, 4096));
    for (let done = 0; done < bytes; done += chunk.length) {
      const n = Math.min(chunk.length, bytes - done);
      for (let i = 0; i < n; i++) chunk[i] = (offset + done + i) & 0xff;
      qiov.copyFrom(chunk.subarray(0, n), qiovOffset + done);
    }
    return 0;
  },
  // No pwritev: a write reaching the driver would fail with -ENOTSUP; read-only nodes refuse it earlier.
};

const patternPlugin = definePlugin('pattern', (ctx) => ctx.blockDriver(patternDriver), {
  dependencies: ['block-layer'],
});

const machine = await Machine.create({ plugins: [blockLayerPlugin, patternPlugin] });
await machine.blockdevAdd({
  driver: 'raw',
  nodeName: 'disk0',
  readOnly: true,
  offset: 4096,
  file: { driver: 'pattern', size: 1 << 20 },
});
const blk = machine.blockBackend('disk0');
console.log(`${await blk.getLength()} bytes, first: ${(await blk.read(1, 3)).join(' ')}`); // 1044480 bytes, first: 1 2 3
await blk.write(0, new Uint8Array(512)).catch((e: Error) => console.log(e.message)); // write failed: Operation not permitted
await blk.unref();
await machine.destroy();
