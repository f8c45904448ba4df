/**
 * A tiny HTTP server for one disk image, enough for the `http-ro` driver: HEAD answers the length
 * and `Accept-Ranges: bytes`, GET with a single `Range: bytes=a-b` answers 206 with that slice.
 * It listens on 127.0.0.1 on a port the OS picks, and counts what it served.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ImageServer {
  /** URL of the image, e.g. `http://127.0.0.1:40123/disk.img`. */
  readonly url: string;
  /** Range requests answered with 206. */
  readonly rangeRequests: number;
  /** Bytes sent in 206 answers. */
  readonly bytesServed: number;
  /** Stops listening and cuts every open connection (so clients see errors at once). */
  close(): Promise<void>;
}

const RANGE_RE = /^bytes=(\d+)-(\d*)$/;

/** Serves `image` at `/<name>` on 127.0.0.1, port chosen by the OS. */
export async function startImageServer(image: Uint8Array, name = 'disk.img'): Promise<ImageServer> {
  let rangeRequests = 0;
  let bytesServed = 0;
  const server = http.createServer((req, res) => {
    if (req.url !== `/${name}`) {
      res.writeHead(404).end();
      return;
    }
    if (req.method === 'HEAD') {
      res.writeHead(200, { 'Content-Length': image.length, 'Accept-Ranges': 'bytes' }).end();
      return;
    }
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET, HEAD' }).end();
      return;
    }
    const m = RANGE_RE.exec(req.headers.range ?? '');
    if (m === null) {
      // Whole-image GETs are legal HTTP, but the driver never sends one.
      res.writeHead(200, { 'Content-Length': image.length }).end(image);
      return;
    }
    const first = Number(m[1]);
    const last = m[2] === '' ? image.length - 1 : Math.min(Number(m[2]), image.length - 1);
    if (first >= image.length || last < first) {
      res.writeHead(416, { 'Content-Range': `bytes */${image.length}` }).end();
      return;
    }
    rangeRequests++;
    bytesServed += last - first + 1;
    res
      .writeHead(206, {
        'Content-Length': last - first + 1,
        'Content-Range': `bytes ${first}-${last}/${image.length}`,
      })
      .end(image.subarray(first, last + 1));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/${name}`,
    get rangeRequests() {
      return rangeRequests;
    },
    get bytesServed() {
      return bytesServed;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
