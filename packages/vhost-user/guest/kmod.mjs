// Kernel-module dependencies read straight from each module's ELF ".modinfo" section (the
// "depends=" entry depmod uses), so no host kmod/modinfo and no modules.dep are needed.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** @param {string} name a module name; the kernel treats '-' and '_' alike */
const canonical = (name) => name.replace(/-/g, '_');

/**
 * The NUL-separated key=value strings of an ELF64 little-endian module's .modinfo section.
 * @param {Buffer} elf
 * @returns {string[]}
 */
export function modinfo(elf) {
  if (elf.readUInt32BE(0) !== 0x7f454c46 || elf[4] !== 2 || elf[5] !== 1) {
    throw new Error('not an ELF64 little-endian object');
  }
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const shstrndx = elf.readUInt16LE(0x3e);
  /** @param {number} i */
  const section = (i) => {
    const at = shoff + i * shentsize;
    return {
      name: elf.readUInt32LE(at),
      offset: Number(elf.readBigUInt64LE(at + 24)),
      size: Number(elf.readBigUInt64LE(at + 32)),
    };
  };
  const names = section(shstrndx);
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const start = names.offset + s.name;
    const end = elf.indexOf(0, start);
    if (elf.toString('latin1', start, end) !== '.modinfo') continue;
    return elf
      .toString('latin1', s.offset, s.offset + s.size)
      .split('\0')
      .filter((x) => x.length > 0);
  }
  return [];
}

/**
 * Every .ko under `dir`, by canonical name.
 * @param {string} dir
 * @returns {Map<string, string>}
 */
function indexModules(dir) {
  /** @type {Map<string, string>} */
  const index = new Map();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith('.ko')) {
      index.set(canonical(entry.name.slice(0, -3)), join(entry.parentPath, entry.name));
    }
  }
  return index;
}

/**
 * `wanted` and everything they depend on, dependencies first (the order insmod needs).
 * @param {string} moduleDir lib/modules/RELEASE of an unpacked kernel package
 * @param {readonly string[]} wanted
 * @returns {{ name: string, path: string }[]}
 */
export function moduleClosure(moduleDir, wanted) {
  const index = indexModules(moduleDir);
  /** @type {{ name: string, path: string }[]} */
  const order = [];
  /** @type {Set<string>} */
  const done = new Set();
  /** @type {Set<string>} */
  const visiting = new Set();
  /** @param {string} raw */
  const visit = (raw) => {
    const name = canonical(raw);
    if (done.has(name)) return;
    if (visiting.has(name)) throw new Error(`module dependency cycle at ${name}`);
    const path = index.get(name);
    if (!path) throw new Error(`module ${name} not found under ${moduleDir} (built in?)`);
    visiting.add(name);
    const depends = modinfo(readFileSync(path)).find((x) => x.startsWith('depends='));
    for (const dep of (depends ?? 'depends=').slice('depends='.length).split(',')) if (dep) visit(dep);
    visiting.delete(name);
    done.add(name);
    order.push({ name, path });
  };
  for (const w of wanted) visit(w);
  return order;
}
