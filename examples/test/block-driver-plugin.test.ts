import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { ConfigError, Errno, IOVector, Machine } from '@vmkit/core';
import { BlockBackend, BlockGraph, blockLayerPlugin, builtinDrivers } from '@vmkit/block-layer';
import {
  HTTP_RO_MAX_TRANSFER,
  httpBlockPlugin,
  httpRoDriver,
  startImageServer,
  type HttpRoState,
  type ImageServer,
} from '../block-driver-plugin/index.js';
import { runExample, type ExampleRun } from './helpers/run-example.js';

/** A server whose answers the test chooses. */
async function serve(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/disk.img`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function openError(options: Record<string, unknown>): Promise<Error> {
  const graph = new BlockGraph({ drivers: [...builtinDrivers(), httpRoDriver] });
  try {
    await graph.openNode({ driver: 'http-ro', ...options });
  } catch (e) {
    return e as Error;
  }
  throw new Error('the open succeeded');
}

function image(size: number): Uint8Array {
  return new Uint8Array(size).map((_, i) => (i * 7 + (i >> 9)) & 0xff);
}

describe('example: block-driver-plugin (http-ro driver)', function () {
  let server: ImageServer;
  const data = image(3 * HTTP_RO_MAX_TRANSFER + 4096);

  before(async function () {
    server = await startImageServer(data);
  });
  after(async function () {
    await server.close();
  });

  it('plugs into a machine: the plugin contributes http-ro, usable under raw with its length from HEAD', async function () {
    const machine = await Machine.create({ plugins: [blockLayerPlugin, httpBlockPlugin] });
    expect(machine.blockDrivers()).to.include('http-ro');
    await machine.blockdevAdd({
      driver: 'raw',
      nodeName: 'disk0',
      readOnly: true,
      file: { driver: 'http-ro', url: server.url },
    });
    const blk = machine.blockBackend('disk0');
    expect(await blk.getLength()).to.equal(data.length);
    expect(await blk.read(5000, 3000)).to.deep.equal(data.subarray(5000, 8000));
    await blk.unref();
    await machine.destroy();
  });

  it('splits a read larger than max-transfer into several range requests', async function () {
    const graph = new BlockGraph({ drivers: [...builtinDrivers(), httpRoDriver] });
    const bs = await graph.openNode({ driver: 'http-ro', 'read-only': true, url: server.url });
    const blk = BlockBackend.withNode(bs);
    const before = server.rangeRequests;
    const buf = new Uint8Array(2 * HTTP_RO_MAX_TRANSFER + 512);
    expect(await blk.coPreadv(1024, buf.length, IOVector.fromBuffer(buf))).to.equal(0);
    expect(server.rangeRequests - before).to.equal(3);
    expect(buf).to.deep.equal(data.subarray(1024, 1024 + buf.length));
    expect((bs.opaque as HttpRoState).requests).to.equal(3);
    await blk.unref();
  });

  it('refuses a writable open, and opens read-only with auto-read-only', async function () {
    const e = await openError({ url: server.url });
    expect(e).to.be.instanceOf(ConfigError);
    expect(e.message).to.equal('http-ro driver does not support writes');
    const graph = new BlockGraph({ drivers: [...builtinDrivers(), httpRoDriver] });
    const bs = await graph.openNode({ driver: 'http-ro', 'auto-read-only': true, url: server.url });
    expect(bs.readOnly).to.equal(true);
    bs.unref();
  });

  it('refuses bad options with QEMU-style messages', async function () {
    expect((await openError({ 'read-only': true })).message).to.equal(
      "http-ro block driver requires an 'url' option",
    );
    expect((await openError({ 'read-only': true, url: server.url, foo: 1 })).message).to.equal(
      "Invalid parameter 'foo'",
    );
    expect((await openError({ 'read-only': true, url: 'https://example.org/x.img' })).message).to.equal(
      'http-ro: only http:// URLs are supported',
    );
  });

  it('refuses a server without range support, a missing image and an unreachable server', async function () {
    const noRanges = await serve((_req, res) => res.writeHead(200, { 'Content-Length': 512 }).end());
    try {
      const e = await openError({ 'read-only': true, url: noRanges.url });
      expect(e.message).to.equal('Server does not support HTTP range requests');
    } finally {
      await noRanges.close();
    }
    const missing = await openError({ 'read-only': true, url: server.url.replace('disk.img', 'other.img') });
    expect(missing.message).to.match(/answered 404 Not Found$/);
    const gone = await serve(() => undefined);
    await gone.close();
    expect((await openError({ 'read-only': true, url: gone.url })).message).to.match(
      /^http-ro: cannot reach /,
    );
  });

  it('turns every failed read into -EIO: an error status, a wrong Content-Range, a short body, a dead server', async function () {
    let mode: 'status' | 'range' | 'short' = 'status';
    const bad = await serve((req, res) => {
      if (req.method === 'HEAD') {
        res.writeHead(200, { 'Content-Length': 65536, 'Accept-Ranges': 'bytes' }).end();
      } else if (mode === 'status') {
        res.writeHead(500).end();
      } else if (mode === 'range') {
        res.writeHead(206, { 'Content-Range': 'bytes 0-511/65536' }).end(new Uint8Array(512));
      } else {
        // Promises 512 bytes, sends 100, then hangs up.
        res.writeHead(206, { 'Content-Range': 'bytes 512-1023/65536', 'Content-Length': 512 });
        res.write(new Uint8Array(100), () => res.destroy());
      }
    });
    const graph = new BlockGraph({ drivers: [...builtinDrivers(), httpRoDriver] });
    const bs = await graph.openNode({ driver: 'http-ro', 'read-only': true, url: bad.url });
    const blk = BlockBackend.withNode(bs);
    const read = (): Promise<number> => blk.coPreadv(512, 512, IOVector.fromBuffer(new Uint8Array(512)));
    for (const m of ['status', 'range', 'short'] as const) {
      mode = m;
      expect(await read(), m).to.equal(-Errno.EIO);
    }
    await bad.close();
    expect(await read(), 'server gone').to.equal(-Errno.EIO);
    await blk.unref();
  });

  describe('the example program', function () {
    let run: ExampleRun;
    before(async function () {
      this.timeout(60_000);
      run = await runExample('block-driver-plugin/main.js');
    });

    it('runs to the end: exit status 0, nothing on stderr', function () {
      expect(run.stderr).to.equal('');
      expect(run.code).to.equal(0);
      expect(run.lines.at(-1)).to.equal('machine destroyed');
    });

    it('refuses a writable http-ro node and a missing image', function () {
      expect(run.lines).to.include.members([
        'block drivers: blkdebug, file, http-ro, memory, null-co, raw',
        'refused as expected: http-ro driver does not support writes',
        'refused as expected: http-ro: HEAD http://127.0.0.1:<port>/nope.img answered 404 Not Found',
      ]);
    });

    it('T12: two drives share the group: 8 reads at 20 iops take 250 ms of virtual time (3 at once, 5 × 50 ms)', function () {
      expect(run.lines).to.include(
        '8 reads of 64 KiB under x-iops-total=20: data intact, 250 ms of virtual time',
      );
    });

    it('reads through raw windows and splits big reads', function () {
      expect(run.lines).to.include.members([
        "hd1 starts with 'sector 2048' (the raw window begins 1 MiB into the image)",
        'a 3 MiB read took 3 range requests and is intact',
      ]);
    });

    it('reports errors as errno values: EPERM for a write, EIO past the end and once the server is gone', function () {
      expect(run.lines).to.include.members([
        'write to hd0: write failed: Operation not permitted (EPERM)',
        'read past the end of hd1: read failed: Input/output error (EIO)',
        'read after the server stopped: read failed: Input/output error (EIO)',
      ]);
    });

    it('shows the drives and their stats (failed operations counted)', function () {
      expect(run.lines).to.include.members([
        'node http0: 4194304 bytes, 13 range requests sent',
        'drive hd0: raw node disk0, ro=true, 4194304 bytes, group tg0 iops=20',
        'drive hd1: raw node part1, ro=true, 1048576 bytes, group tg0 iops=20',
        'stats hd0: rd 5 ops/3407872 B, failed rd 1, failed wr 1',
        'stats hd1: rd 5 ops/262160 B, failed rd 1, failed wr 0',
      ]);
    });
  });
});
