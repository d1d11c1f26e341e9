import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pngBytes } from '../src/django/sample-images.ts';
import { MemoryWatch } from './memory.ts';
import { cpuRows } from './pipeline.ts';
import { fmt, mb, table, type BenchContext, type ScenarioResult } from './report.ts';
import { CpuMeter, spawnCli, type World } from './world.ts';

/**
 * A. `media-migrate audit` on a million rows: half of them a file column (every other value already
 * a public_id, the rest paths), half a text column (HTML with one or two URLs of ours, every tenth
 * row also a CDN's and a Cloudinary URL that are not ours), and a MEDIA_ROOT of a tenth as many files
 * as rows (a real library's size; a million files would take longer to write than to audit): a file
 * for the first paths of each kind, the other references missing, plus thumbnails nothing references.
 * The audit's counts must be exactly what was planted; its wall time and peak RSS are judged.
 */
const FILE_TABLE = 'bench_audit_photo';
const TEXT_TABLE = 'bench_audit_post';

/** What was planted, and so what the audit must count. */
interface Plan {
  fileRows: number;
  textRows: number;
  /** Files on disk: the first `products` odd-id paths, `images` text pictures, `pdfs` even-id PDFs, `thumbs` unreferenced. */
  products: number;
  images: number;
  pdfs: number;
  thumbs: number;
}

function plan(rows: number): Plan {
  const tenth = Math.max(10, Math.floor(rows / 100)); // a tenth of the files: the files are a tenth of the rows
  return { fileRows: Math.floor(rows / 2), textRows: rows - Math.floor(rows / 2), products: 4 * tenth, images: 4 * tenth, pdfs: tenth, thumbs: tenth };
}

function expected(p: Plan) {
  const fileLocal = Math.ceil(p.fileRows / 2); // odd ids hold paths
  const textLocal = p.textRows + Math.floor(p.textRows / 2); // a picture each, a PDF on even ids
  return {
    file: { rows: p.fileRows, localReferences: fileLocal, missingFiles: fileLocal - p.products },
    text: { rows: p.textRows, localReferences: textLocal, missingFiles: textLocal - p.images - p.pdfs },
  };
}

const png = (seed: number) => pngBytes(4 + (seed >>> 16), 3, seed);
const pdf = (i: number) => Buffer.from(`%PDF-1.4\n% post ${i}\n%%EOF\n`);

/** Writes the plan's files; returns the bytes of the unreferenced ones. */
async function writeFiles(root: string, p: Plan): Promise<number> {
  for (const d of ['products', 'uploads', 'docs']) await mkdir(join(root, d));
  const files: (() => [string, Buffer])[] = [];
  for (let k = 0; k < p.products; k++) files.push(() => [`products/p${2 * k + 1}.png`, png(k)]);
  for (let k = 1; k <= p.images; k++) files.push(() => [`uploads/t${k}.png`, png(p.products + k)]);
  for (let k = 1; k <= p.pdfs; k++) files.push(() => [`docs/t${2 * k}.pdf`, pdf(2 * k)]);
  let thumbBytes = 0;
  for (let k = 1; k <= p.thumbs; k++) {
    files.push(() => {
      const data = pngBytes(2, 2, k);
      thumbBytes += data.length;
      return [`uploads/t${k}_thumb.png`, data];
    });
  }
  for (let i = 0; i < files.length; i += 1_000) {
    await Promise.all(
      files.slice(i, i + 1_000).map((f) => {
        const [name, data] = f();
        return writeFile(join(root, name), data);
      }),
    );
  }
  return thumbBytes;
}

async function fillTables(world: World, p: Plan): Promise<void> {
  const db = world.db;
  await db.raw(`drop table if exists ${FILE_TABLE}, ${TEXT_TABLE}`);
  await db.raw(`create table ${FILE_TABLE} (id bigserial primary key, image varchar(100) not null default '')`);
  await db.raw(`create table ${TEXT_TABLE} (id bigserial primary key, body text not null)`);
  // What django-cloudinary-storage stores once migrated: PREFIX + the name + a suffix, no extension.
  await db.raw(
    `insert into ${FILE_TABLE} (image)
     select case when g % 2 = 0 then 'media/products/p' || g || '_' || substr(md5(g::text), 1, 6) else 'products/p' || g || '.png' end
       from generate_series(1, ?) g`,
    [p.fileRows],
  );
  await db.raw(
    `insert into ${TEXT_TABLE} (body)
     select '<h2>Post ' || g || '</h2><p>Some words about it.</p><p><img src="/media/uploads/t' || g || '.png" alt=""></p>' ||
            case when g % 2 = 0 then '<p><a href="/media/docs/t' || g || '.pdf">the PDF</a></p>' else '' end ||
            case when g % 10 = 0 then '<img src="https://cdn.example.org/media/uploads/t' || g || '.png">' ||
                                      '<img src="https://res.cloudinary.com/demo/image/upload/v1/media/uploads/t' || g || '_x1y2z3.png">' else '' end
       from generate_series(1, ?) g`,
    [p.textRows],
  );
  await db.raw(`analyze ${FILE_TABLE}`);
  await db.raw(`analyze ${TEXT_TABLE}`);
}

interface AuditJson {
  ok: boolean;
  localReferences: number;
  missingFiles: number;
  unreferencedFiles: number;
  unreferencedBytes: number;
  sources: { table: string; column: string; kind: string; rows: number; localReferences: number; missingFiles: number }[];
}

export async function scenarioAudit(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const rows = ctx.rows ?? (ctx.quick ? 20_000 : 1_000_000);
  const p = plan(rows);
  const want = expected(p);
  const onDisk = p.products + p.images + p.pdfs + p.thumbs;
  const label = (x: number) => x.toLocaleString('en-US');
  const mediaRoot = await mkdtemp(join(tmpdir(), `mm-bench-${world.id}-audit-`));
  const sourcesFile = `${mediaRoot}.sources.json`;
  try {
    ctx.log(`A: ${label(rows)} rows, ${label(onDisk)} files`);
    const w0 = performance.now();
    const thumbBytes = await writeFiles(mediaRoot, p);
    const filesSeconds = (performance.now() - w0) / 1000;
    const r0 = performance.now();
    await fillTables(world, p);
    const rowsSeconds = (performance.now() - r0) / 1000;
    await writeFile(
      sourcesFile,
      JSON.stringify({ sources: [{ table: FILE_TABLE, column: 'image' }, { table: TEXT_TABLE, column: 'body', kind: 'text' }] }),
    );
    await world.resetState();

    ctx.log(`A: media-migrate audit --sources F --json over ${label(rows)} rows`);
    const cpu = new CpuMeter();
    const watch = new MemoryWatch(world, 100);
    const t0 = performance.now();
    const child = spawnCli(['audit', '--sources', sourcesFile, '--json'], world.env('cloudinary://123456789012345:unused@demo', { MEDIA_ROOT: mediaRoot }));
    watch.watch('audit', child.child.pid!);
    await watch.start();
    await cpu.track('audit process', child.child.pid!);
    await cpu.begin();
    const { code } = await child.exited;
    const seconds = (performance.now() - t0) / 1000;
    await watch.stop();
    const report = await cpu.end();
    const out = child.output();
    const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
    const got = JSON.parse(line ?? '{}') as Partial<AuditJson>;

    // A wrong count is a failed scenario, whatever the time.
    const [file, text] = got.sources ?? [];
    const mustBe: [string, unknown, unknown][] = [
      ['exit code (1: local references remain)', code, 1],
      ['ok', got.ok, false],
      ['file column', file && { rows: file.rows, localReferences: file.localReferences, missingFiles: file.missingFiles }, want.file],
      ['text column', text && { rows: text.rows, localReferences: text.localReferences, missingFiles: text.missingFiles }, want.text],
      ['localReferences', got.localReferences, want.file.localReferences + want.text.localReferences],
      ['missingFiles', got.missingFiles, want.file.missingFiles + want.text.missingFiles],
      ['unreferencedFiles', got.unreferencedFiles, p.thumbs],
      ['unreferencedBytes', got.unreferencedBytes, thumbBytes],
    ];
    const wrong = mustBe.filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b));
    if (wrong.length > 0) {
      throw new Error(`bench: A: the audit's counts are not what was planted: ${wrong.map(([k, a, b]) => `${k} ${JSON.stringify(a)}, expected ${JSON.stringify(b)}`).join('; ')}:\n${out.slice(-2000)}`);
    }

    return {
      id: 'A',
      title: `\`audit\` on ${label(rows)} rows and ${label(onDisk)} files`,
      figures: [
        { label: `audit --json, ${label(rows)} rows, wall time`, value: seconds, unit: 's', digits: 1, target: { op: '<=', value: 60 } },
        { label: "audit's peak RSS", value: mb(watch.peak('audit')), unit: 'MB', digits: 0, target: { op: '<=', value: 120 } },
        { label: 'rows read per second', value: rows / seconds, unit: 'rows/s', digits: 0 },
        { label: 'local references counted (as planted)', value: got.localReferences!, unit: 'references', digits: 0 },
        { label: 'missing files counted (as planted)', value: got.missingFiles!, unit: 'references', digits: 0 },
        { label: 'unreferenced files counted (as planted)', value: got.unreferencedFiles!, unit: 'files', digits: 0 },
      ],
      details: [
        ...table(
          ['source', 'rows', 'planted', 'local references', 'missing files'],
          [
            [
              `${FILE_TABLE}.image (file)`,
              label(file!.rows),
              `even ids a public_id (migrated), odd ids a path; a file for the first ${label(p.products)} paths`,
              label(file!.localReferences),
              label(file!.missingFiles),
            ],
            [
              `${TEXT_TABLE}.body (text)`,
              label(text!.rows),
              `an \`<img>\` each, an \`<a>\` to a PDF on even ids, a CDN's and a Cloudinary URL every tenth row; files for the first ${label(p.images)} pictures and ${label(p.pdfs)} PDFs`,
              label(text!.localReferences),
              label(text!.missingFiles),
            ],
          ],
        ),
        '',
        `MEDIA_ROOT held ${label(onDisk)} files (written in ${fmt(filesSeconds, 1)} s; the rows inserted in ${fmt(rowsSeconds, 1)} s): ${label(p.products + p.images + p.pdfs)} referenced, ${label(p.thumbs)} thumbnails nothing references (${label(got.unreferencedBytes!)} bytes). \`audit\` is the real command in its own process, its memory sampled every 100 ms (and the kernel's peak, VmHWM); every count above was checked against what was planted. ${label(rows)} rows in ${fmt(seconds, 1)} s, peak RSS ${fmt(mb(watch.peak('audit')), 0)} MB. CPU per thousand rows (machine ${fmt(100 * (report.machineBusy ?? NaN), 0)}% busy):`,
        '',
        ...table(['process', 'CPU ms per 1,000 rows', '% of one core'], cpuRows(report, rows / 1_000)),
      ],
    };
  } finally {
    await world.db.raw(`drop table if exists ${FILE_TABLE}, ${TEXT_TABLE}`).catch(() => {});
    await rm(sourcesFile, { force: true });
    await rm(mediaRoot, { recursive: true, force: true });
  }
}
