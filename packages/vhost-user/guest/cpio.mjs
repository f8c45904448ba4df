// A writer for the "newc" cpio format the kernel unpacks as an initramfs
// (init/initramfs.c): a 110-byte ASCII header, the NUL-terminated name and the data, each padded
// to 4 bytes. Written here so building the guest needs no host cpio and can add device nodes
// (/dev/console) without root.
import { Buffer } from 'node:buffer';
import { closeSync, openSync, writeSync } from 'node:fs';

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;
const S_IFCHR = 0o020000;

/**
 * @typedef {{ kind: 'dir', path: string, mode?: number }
 *   | { kind: 'file', path: string, data: Buffer, mode?: number }
 *   | { kind: 'symlink', path: string, target: string }
 *   | { kind: 'chardev', path: string, major: number, minor: number, mode?: number }} CpioEntry
 */

/** @param {number} n */
function hex8(n) {
  return n.toString(16).padStart(8, '0');
}

const ZERO_PAD = Buffer.alloc(4);

/**
 * Writes `entries` (paths relative to the archive root, parents before children) as a newc
 * archive to `path`; returns its size in bytes.
 * @param {string} path
 * @param {readonly CpioEntry[]} entries
 * @returns {number}
 */
export function writeCpio(path, entries) {
  const fd = openSync(path, 'w', 0o644);
  let offset = 0;
  /** @param {Buffer} buf */
  const put = (buf) => {
    writeSync(fd, buf);
    offset += buf.length;
  };
  const pad = () => {
    const rem = offset % 4;
    if (rem !== 0) put(ZERO_PAD.subarray(0, 4 - rem));
  };
  /** @param {string} name @param {number} mode @param {Buffer} data @param {number} ino @param {number} rdevMajor @param {number} rdevMinor */
  const record = (name, mode, data, ino, rdevMajor, rdevMinor) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdevMajor, rdevMinor, nameBuf.length, 0];
    put(Buffer.from(`070701${fields.map(hex8).join('')}`, 'latin1'));
    put(nameBuf);
    pad();
    if (data.length > 0) put(data);
    pad();
  };
  try {
    let ino = 1;
    for (const e of entries) {
      const name = e.path.replace(/^\/+/, '');
      switch (e.kind) {
        case 'dir':
          record(name, S_IFDIR | (e.mode ?? 0o755), Buffer.alloc(0), ino++, 0, 0);
          break;
        case 'file':
          record(name, S_IFREG | (e.mode ?? 0o644), e.data, ino++, 0, 0);
          break;
        case 'symlink':
          record(name, S_IFLNK | 0o777, Buffer.from(e.target), ino++, 0, 0);
          break;
        case 'chardev':
          record(name, S_IFCHR | (e.mode ?? 0o600), Buffer.alloc(0), ino++, e.major, e.minor);
          break;
      }
    }
    record('TRAILER!!!', 0, Buffer.alloc(0), 0, 0, 0);
  } finally {
    closeSync(fd);
  }
  return offset;
}
