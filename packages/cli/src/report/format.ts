/** Number formatting for the live lines and the summary table. */

/** Three significant digits: 1.23, 12.3, 123, 1234. */
export function sig3(n: number): string {
  if (n === 0) return '0';
  const a = Math.abs(n);
  if (a >= 1000) return String(Math.round(n));
  if (a >= 100) return n.toFixed(0);
  if (a >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

/** `4.00` → `4`, `1.50` → `1.5`. */
function trimZeros(text: string): string {
  return text.includes('.') ? text.replace(/\.?0+$/, '') : text;
}

/** A latency in ns as `850 ns`, `45.0 µs`, `1.63 ms`, `2.10 s`; `-` when absent. */
export function formatLatency(ns: number | null): string {
  if (ns === null) return '-';
  if (ns < 1e3) return `${Math.round(ns)} ns`;
  if (ns < 1e6) return `${sig3(ns / 1e3)} µs`;
  if (ns < 1e9) return `${sig3(ns / 1e6)} ms`;
  return `${sig3(ns / 1e9)} s`;
}

/** Bytes with a binary unit: `82.0 MiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${v} B` : `${trimZeros(sig3(v))} ${units[i]}`;
}

/** Left-aligned columns separated by two spaces; `right` marks right-aligned columns. */
export function table(
  rows: readonly (readonly string[])[],
  right: ReadonlySet<number> = new Set(),
): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) =>
    row
      .map((cell, i) =>
        right.has(i) ? cell.padStart(widths[i]) : i === row.length - 1 ? cell : cell.padEnd(widths[i]),
      )
      .join('  ')
      .trimEnd(),
  );
}
