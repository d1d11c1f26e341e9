import { readFile, writeFile } from 'node:fs/promises';
import type { Machine } from './world.ts';

/** One measured figure, with the target for it when it has one. */
export interface Figure {
  label: string;
  value: number;
  unit: string;
  /** Digits after the point when printed (default: 0 for values ≥ 100, else 1 or 2). */
  digits?: number;
  target?: { op: '>=' | '<='; value: number } | undefined;
  /** Why a target does not apply in this run (quick mode), shown instead of ✔/✘. */
  notApplicable?: string | undefined;
}

/** What one scenario hands back: its figures for the summary table, and details in Markdown. */
export interface ScenarioResult {
  id: string;
  title: string;
  figures: Figure[];
  /** Markdown lines (tables, one-line notes) printed under the summary. */
  details: string[];
}

export interface BenchContext {
  quick: boolean;
  /** `--rows N`: the size of the large scenarios (3, 4, F, S, A) instead of their own, to try them out. */
  rows?: number | undefined;
  /** Progress lines go to stderr, so stdout stays the report. */
  log(message: string): void;
}

export function fmt(value: number, digits?: number): string {
  if (!Number.isFinite(value)) return String(value);
  const d = digits ?? (Math.abs(value) >= 100 ? 0 : Math.abs(value) >= 10 ? 1 : 2);
  return value.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d });
}

export const mb = (bytes: number) => bytes / 1024 ** 2;

export function verdict(f: Figure): string {
  if (f.notApplicable) return `n/a (${f.notApplicable})`;
  if (!f.target) return '';
  const ok = f.target.op === '>=' ? f.value >= f.target.value : f.value <= f.target.value;
  return ok ? '✔ met' : '✘ not met';
}

const targetText = (f: Figure) => (f.target ? `${f.target.op === '>=' ? '≥' : '≤'} ${fmt(f.target.value, f.digits)} ${f.unit}` : '');

/** A Markdown table; also readable as plain text in a terminal. */
export function table(head: string[], rows: (string | number)[][]): string[] {
  const cells = rows.map((r) => r.map((c) => (typeof c === 'number' ? fmt(c, Number.isInteger(c) ? 0 : undefined) : c)));
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => `| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.map(line)];
}

export function summaryTable(results: ScenarioResult[]): string[] {
  const rows: string[][] = [];
  for (const r of results) {
    for (const f of r.figures) rows.push([r.id, f.label, `${fmt(f.value, f.digits)} ${f.unit}`, targetText(f), verdict(f)]);
  }
  return table(['#', 'figure', 'measured', 'target', ''], rows);
}

export function machineLines(m: Machine, date: Date, mode: string, loadAfter: string): string[] {
  return [
    `- **When**: ${date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC')} (${mode} run)`,
    `- **Machine**: ${m.cores} cores (${m.cpu}), ${m.memoryGb} GB memory; load average ${m.loadBefore} before, ${loadAfter} after`,
    `- **Software**: Node ${m.node}, Redis ${m.redis} (a private \`redis-server\` per run), PostgreSQL ${m.postgres} (the local server, a schema per run), the bundled emulator in its own process`,
  ];
}

export function renderResults(results: ScenarioResult[], header: string[], failures: string[]): string {
  const out: string[] = [...header, '', ...summaryTable(results), ''];
  for (const f of failures) out.push(`**Scenario failed**: ${f}`, '');
  for (const r of results) {
    if (r.details.length === 0) continue;
    out.push(`### ${r.id}. ${r.title}`, '', ...r.details, '');
  }
  return out.join('\n');
}

const START = '<!-- bench:results:start (written by `npm run bench`; edit outside these markers) -->';
const END = '<!-- bench:results:end -->';

/** Replaces the generated part of BENCHMARKS.md, keeping the hand-written notes around it. */
export async function writeBenchmarks(path: string, generated: string): Promise<void> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    text = `# Benchmarks\n\n\`npm run bench\` (full, ~13 minutes) or \`npm run bench -- --quick\` (under a minute, run by CI).\n\n${START}\n${END}\n`;
  }
  const a = text.indexOf(START);
  const b = text.indexOf(END);
  const block = `${START}\n\n${generated.trim()}\n\n${END}`;
  text = a >= 0 && b > a ? text.slice(0, a) + block + text.slice(b + END.length) : `${text.trimEnd()}\n\n${block}\n`;
  await writeFile(path, text);
}
