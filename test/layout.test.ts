import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The tree is the architecture (README, Layout): each folder one concept, imports pointing one way.
 * These tests keep it so: a new import that points up, a cycle, or a file grown past ~300 lines
 * without a first comment saying why it is one piece fails here, not in a reader's head.
 */

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Lower layers first: a folder may import its own files and the folders of lower layers only. */
const LAYERS: readonly (readonly string[])[] = [
  ['src'], // errors, outcomes, logger, secrets: the vocabulary everything shares
  ['src/config'],
  ['src/db'],
  ['src/media', 'src/text'],
  ['src/ledger'],
  ['src/cloudinary'],
  ['src/records'],
  ['src/pipeline'],
  ['src/cutover', 'src/django', 'src/emulator', 'src/audit'],
  ['dashboard'],
  ['src/cli'],
  ['workers'],
];

function files(dir: string, ext = /\.ts$/): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const f of readdirSync(d)) {
      const p = join(d, f);
      if (statSync(p).isDirectory()) walk(p);
      else if (ext.test(f)) out.push(relative(ROOT, p));
    }
  };
  walk(join(ROOT, dir));
  return out;
}

const LIBRARY = ['src', 'dashboard', 'workers'].flatMap((d) => files(d));

/** The layer folder a file belongs to: its top folder under src/ (src/cli/demo/ is the demo command's). */
function folderOf(file: string): string {
  const parts = file.split('/');
  if (parts[0] !== 'src') return parts[0]!;
  return parts.length > 2 ? `src/${parts[1]}` : 'src';
}

function layerOf(folder: string): number {
  const i = LAYERS.findIndex((l) => l.includes(folder));
  if (i < 0) throw new Error(`${folder} is in no layer of test/layout.test.ts: say where it belongs`);
  return i;
}

function importsOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8');
  return [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'|import\('(\.[^']+)'\)/g)].map((m) =>
    relative(ROOT, resolve(dirname(join(ROOT, file)), (m[1] ?? m[2])!)),
  );
}

describe('the layout', () => {
  it('imports point down the layers: commands → pipeline → records → ledger / cloudinary / media → config', () => {
    const upward: string[] = [];
    for (const file of LIBRARY) {
      const from = folderOf(file);
      for (const target of importsOf(file)) {
        const to = folderOf(target);
        if (to === from) continue;
        if (layerOf(to) >= layerOf(from)) upward.push(`${file} → ${target}`);
      }
    }
    expect(upward).toEqual([]);
  });

  it('has no import cycle between files', () => {
    const graph = new Map(LIBRARY.map((f) => [f, importsOf(f).filter((t) => LIBRARY.includes(t))]));
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (f: string, path: string[]) => {
      if (state.get(f) === 'done') return;
      if (state.get(f) === 'open') {
        cycles.push([...path.slice(path.indexOf(f)), f].join(' → '));
        return;
      }
      state.set(f, 'open');
      for (const t of graph.get(f) ?? []) visit(t, [...path, f]);
      state.set(f, 'done');
    };
    for (const f of LIBRARY) visit(f, []);
    expect(cycles).toEqual([]);
  });

  it('keeps every source file under ~300 lines, or says in its first comment why it is one piece', () => {
    const all = [...LIBRARY, ...files('test'), ...files('bench'), ...files('dashboard/public', /\.js$/)];
    const long = all.filter((f) => {
      const text = readFileSync(join(ROOT, f), 'utf8');
      if (text.split('\n').length <= 320) return false;
      // The file's opening comment: the first comment lines among its first 40 (after the imports).
      const comments = text.split('\n').slice(0, 40).filter((l) => /^\s*(\/\/|\/\*|\*)/.test(l));
      return !/one piece/i.test(comments.join(' '));
    });
    expect(long).toEqual([]);
  });

  it('puts no module straight in src/ but the shared vocabulary and process plumbing', () => {
    const top = files('src').filter((f) => f.split('/').length === 2);
    expect(top.sort()).toEqual(
      ['src/errors.ts', 'src/heap.ts', 'src/logger.ts', 'src/outcomes.ts', 'src/package-root.ts', 'src/resources.ts', 'src/secrets.ts'].sort(),
    );
  });
});
