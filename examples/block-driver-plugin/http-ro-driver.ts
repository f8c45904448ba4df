/**
 * `http-ro`: a read-only protocol driver over HTTP range requests (a small cousin of QEMU's
 * block/curl.c). Open sends HEAD for the length and checks `Accept-Ranges: bytes`; every read is
 * one `GET` with `Range: bytes=first-last`, whose body is copied straight into the request's
 * IOVector. Failures on the I/O path are negative errno values (-EIO), never exceptions.
 *
 *   { driver: 'raw', nodeName: 'disk0', readOnly: true,
 *     file: { driver: 'http-ro', url: 'http://127.0.0.1:8080/disk.img' } }
 */
import http from 'node:http';
import { ConfigError, Errno, type IOVector } from '@vmkit/core';
import type { BlockDriver, BlockDriverState, DriverOptions } from '@vmkit/block-layer';

/** Parsed options of an `http-ro` node. */
export interface HttpRoOptions {
  readonly url: URL;
  /** Per-request inactivity timeout (QEMU curl's `timeout`, in seconds; default 5). */
  readonly timeoutMs: number;
}

/** Per-node state (`bs.opaque`). */
export class HttpRoState {
  /** Range requests sent, for the curious. */
  requests = 0;

  constructor(
    readonly url: URL,
    readonly length: number,
    readonly timeoutMs: number,
    readonly agent: http.Agent,
  ) {}
}

/** Largest range fetched in one GET; the generic layer splits bigger requests for us. */
export const HTTP_RO_MAX_TRANSFER = 1024 * 1024;

function parseOptions(options: DriverOptions): HttpRoOptions {
  for (const key of Object.keys(options)) {
    if (key !== 'url' && key !== 'timeout') throw new ConfigError(`Invalid parameter '${key}'`);
  }
  const { url, timeout = 5 } = options;
  if (typeof url !== 'string') throw new ConfigError("http-ro block driver requires an 'url' option");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`http-ro: invalid URL '${url}'`);
  }
  if (parsed.protocol !== 'http:') throw new ConfigError(`http-ro: only http:// URLs are supported`);
  if (typeof timeout !== 'number' || !Number.isInteger(timeout) || timeout <= 0 || timeout > 3600) {
    throw new ConfigError("Parameter 'timeout' expects a number of seconds between 1 and 3600");
  }
  return { url: parsed, timeoutMs: timeout * 1000 };
}

/** HEAD: the image length, or a ConfigError that says what the server did wrong. */
function probe(url: URL, agent: http.Agent, timeoutMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'HEAD', agent, timeout: timeoutMs }, (res) => {
      res.resume();
      const length = Number(res.headers['content-length']);
      if (res.statusCode !== 200) {
        reject(new ConfigError(`http-ro: HEAD ${url.href} answered ${res.statusCode} ${res.statusMessage}`));
      } else if (!(res.headers['accept-ranges'] ?? '').split(/\s*,\s*/).includes('bytes')) {
        reject(new ConfigError('Server does not support HTTP range requests'));
      } else if (!Number.isSafeInteger(length) || length < 0) {
        reject(new ConfigError(`http-ro: ${url.href} has no usable Content-Length`));
      } else {
        resolve(length);
      }
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) =>
      reject(new ConfigError(`http-ro: cannot reach ${url.href}: ${e.message}`, { cause: e })),
    );
    req.end();
  });
}

/**
 * One ranged GET into `qiov` at `qiovOffset`; resolves 0 or -EIO (network error, timeout, a status
 * other than 206, a Content-Range for other bytes, or a short body). A closure per request is
 * fine here: a network round trip costs far more than the allocation.
 */
function fetchRange(
  s: HttpRoState,
  offset: number,
  bytes: number,
  qiov: IOVector,
  qiovOffset: number,
): Promise<number> {
  return new Promise((resolve) => {
    s.requests++;
    const last = offset + bytes - 1;
    const headers = { Range: `bytes=${offset}-${last}` };
    const req = http.get(s.url, { agent: s.agent, headers, timeout: s.timeoutMs }, (res) => {
      if (res.statusCode !== 206 || !res.headers['content-range']?.startsWith(`bytes ${offset}-${last}/`)) {
        res.resume();
        resolve(-Errno.EIO);
        return;
      }
      let got = 0;
      res.on('data', (chunk: Buffer) => {
        const n = Math.min(chunk.length, bytes - got);
        qiov.copyFrom(n === chunk.length ? chunk : chunk.subarray(0, n), qiovOffset + got);
        got += n;
      });
      res.on('end', () => resolve(got === bytes ? 0 : -Errno.EIO));
      res.on('error', () => resolve(-Errno.EIO));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(-Errno.EIO));
  });
}

export const httpRoDriver: BlockDriver<HttpRoState, HttpRoOptions> = {
  name: 'http-ro',
  kind: 'protocol',
  parseOptions,

  async open(bs, options) {
    // bdrv_apply_auto_read_only: with auto-read-only a writable open quietly becomes read-only.
    if (!bs.openFlags.readOnly) {
      if (!bs.openFlags.autoReadOnly) throw new ConfigError('http-ro driver does not support writes');
      bs.openFlags.readOnly = true;
    }
    // Keep-alive connections, at most four at a time (QEMU's curl driver keeps a small pool too).
    const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
    try {
      const length = await probe(options.url, agent, options.timeoutMs);
      bs.opaque = new HttpRoState(options.url, length, options.timeoutMs, agent);
    } catch (e) {
      agent.destroy();
      throw e;
    }
  },

  close(bs) {
    bs.opaque.agent.destroy();
  },

  getLength: (bs) => bs.opaque.length,

  refreshLimits(bs) {
    bs.limits.maxTransfer = HTTP_RO_MAX_TRANSFER;
  },

  preadv(bs: BlockDriverState<HttpRoState>, offset, bytes, qiov, qiovOffset) {
    const s = bs.opaque;
    // The generic layer may ask for the tail of the last sector past a length that is not a
    // multiple of 512: that part reads as zeroes.
    const available = Math.max(0, Math.min(bytes, s.length - offset));
    if (available < bytes) qiov.fill(0, qiovOffset + available, bytes - available);
    if (available === 0) return 0;
    return fetchRange(s, offset, available, qiov, qiovOffset);
  },
};
