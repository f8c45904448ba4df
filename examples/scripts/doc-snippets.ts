/**
 * The guides in docs/ show snippets that are also files under examples/snippets/, so the build
 * compiles them and the tests run them. A snippet in a guide is a marker line followed by a
 * TypeScript code block:
 *
 *     <!-- snippet: examples/snippets/compose-basic.ts -->
 *     ```ts
 *     ...the file's content...
 *     ```
 *
 * `node examples/dist/scripts/doc-snippets.js` rewrites the blocks from the files; with `--check`
 * it only reports the blocks that differ (exit status 1).
 */
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const MARKER = /^<!-- snippet: (\S+) -->\n```ts\n([\s\S]*?)```$/gm;

export interface DocSnippet {
  /** The guide, relative to the repository root. */
  readonly doc: string;
  /** The snippet file, relative to the repository root. */
  readonly file: string;
  /** The code block as it is in the guide. */
  readonly shown: string;
  /** The file's content. */
  readonly actual: string;
}

/** The repository root: examples/dist/scripts → ../../.. */
export const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Every snippet block of every guide in docs/ (not docs/api). */
export function docSnippets(root = repoRoot): DocSnippet[] {
  const found: DocSnippet[] = [];
  for (const name of readdirSync(join(root, 'docs')).filter((n) => n.endsWith('.md'))) {
    const doc = `docs/${name}`;
    for (const m of readFileSync(join(root, doc), 'utf8').matchAll(MARKER)) {
      found.push({ doc, file: m[1], shown: m[2], actual: readFileSync(join(root, m[1]), 'utf8') });
    }
  }
  return found;
}

/** Rewrites every snippet block from its file; returns the guides changed. */
export function syncDocSnippets(root = repoRoot): string[] {
  const changed: string[] = [];
  for (const name of readdirSync(join(root, 'docs')).filter((n) => n.endsWith('.md'))) {
    const path = join(root, 'docs', name);
    const text = readFileSync(path, 'utf8');
    const next = text.replace(
      MARKER,
      (_all, file: string) =>
        `<!-- snippet: ${file} -->\n\`\`\`ts\n${readFileSync(join(root, file), 'utf8')}\`\`\``,
    );
    if (next !== text) {
      writeFileSync(path, next);
      changed.push(`docs/${name}`);
    }
  }
  return changed;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--check')) {
    const stale = docSnippets().filter((s) => s.shown !== s.actual);
    for (const s of stale) console.log(`${s.doc}: the block of ${s.file} differs from the file`);
    process.exitCode = stale.length > 0 ? 1 : 0;
  } else {
    const changed = syncDocSnippets();
    console.log(changed.length > 0 ? `updated ${changed.join(', ')}` : 'every snippet is up to date');
  }
}
