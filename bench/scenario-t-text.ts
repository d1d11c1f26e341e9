import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pngBytes } from '../src/django/sample-images.ts';
import { MemoryWatch } from './memory.ts';
import { cpuRows, ledgerTiming } from './pipeline.ts';
import { fmt, mb, table, type BenchContext, type ScenarioResult } from './report.ts';
import { CpuMeter, spawnCli, type World } from './world.ts';

/**
 * T. Media inside rich text: a text column (`"kind": "text"`) of blog posts, each holding HTML with
 * three references to three files of its own under MEDIA_ROOT (an inline picture, a `srcset` naming
 * a second one twice, a linked PDF), uploads answered after 250 ms, the real `media-migrate migrate
 * --concurrency 32` over it. A text record's files are checked, uploaded and verified before its row
 * is rewritten in one compare-and-swap; what is judged is whether 32 uploads stay in flight while
 * each job has three of them, and whether every file goes up exactly once.
 */
const LATENCY_MS = 250;
const CONCURRENCY = 32;
const TABLE = 'bench_blog_post';
const FILES_PER_ROW = 3;

/** Distinct bytes for every seed up to 2^19: the seed's low 16 bits are in the pixels, the rest in the width. */
const png = (seed: number) => pngBytes(4 + (seed >>> 16), 3, seed);
const pdf = (i: number) => Buffer.from(`%PDF-1.4\n% post ${i}\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n`);

/** The files post `i` references (ids start at 1, as the table's identity does). */
async function writePostFiles(root: string, n: number): Promise<number> {
  await mkdir(join(root, 'uploads'));
  await mkdir(join(root, 'docs'));
  let bytes = 0;
  for (let from = 1; from <= n; from += 1_000) {
    const writes: Promise<void>[] = [];
    for (let i = from; i < Math.min(n + 1, from + 1_000); i++) {
      const files: [string, Buffer][] = [
        [`uploads/${i}-a.png`, png(2 * i)],
        [`uploads/${i}-b.png`, png(2 * i + 1)],
        [`docs/${i}.pdf`, pdf(i)],
      ];
      for (const [name, data] of files) {
        bytes += data.length;
        writes.push(writeFile(join(root, name), data));
      }
    }
    await Promise.all(writes);
  }
  return bytes;
}

/** One statement: a post's HTML as a rich-text editor would store it, built by PostgreSQL. */
async function fillPosts(world: World, n: number): Promise<void> {
  await world.db.raw(`drop table if exists ${TABLE}`);
  await world.db.raw(`create table ${TABLE} (id bigserial primary key, title varchar(200) not null, body text not null)`);
  await world.db.raw(
    `insert into ${TABLE} (title, body)
     select 'Post ' || g,
            '<h2>Post ' || g || '</h2><p>What we made this week, with pictures.</p>' ||
            '<p><img src="/media/uploads/' || g || '-a.png" alt="the workshop" width="640"></p>' ||
            '<p><img srcset="/media/uploads/' || g || '-b.png 1x, /media/uploads/' || g || '-b.png 2x" alt="detail"></p>' ||
            '<p>The plans: <a href="/media/docs/' || g || '.pdf">download the PDF</a>; see also <a href="https://www.djangoproject.com/">Django</a>.</p>'
       from generate_series(1, ?) g`,
    [n],
  );
  await world.db.raw(`analyze ${TABLE}`);
}

export async function scenarioText(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.quick ? 2_000 : 100_000;
  const distinct = n * FILES_PER_ROW;
  const limit = (CONCURRENCY * 1000) / LATENCY_MS;
  const label = (x: number) => x.toLocaleString('en-US');
  // A MEDIA_ROOT and a sources file of its own: the world's products/ folder is other scenarios'.
  const mediaRoot = await mkdtemp(join(tmpdir(), `mm-bench-${world.id}-text-`));
  const sourcesFile = `${mediaRoot}.sources.json`;
  try {
    ctx.log(`T: writing ${label(distinct)} files and ${label(n)} posts`);
    const w0 = performance.now();
    const fileBytes = await writePostFiles(mediaRoot, n);
    await fillPosts(world, n);
    const writeSeconds = (performance.now() - w0) / 1000;
    await writeFile(sourcesFile, JSON.stringify({ sources: [{ table: TABLE, column: 'body', kind: 'text' }] }));
    await world.resetState();
    const emulator = await world.emulator(LATENCY_MS);
    const before = await emulator.stats();

    ctx.log(`T: media-migrate migrate --concurrency ${CONCURRENCY} over ${label(n)} posts (${label(distinct)} files, ${LATENCY_MS} ms per upload)`);
    const cpu = new CpuMeter();
    await cpu.track('emulator', emulator.pid);
    await cpu.track('redis', world.redis.pid);
    const watch = new MemoryWatch(world, 250);
    const t0 = performance.now();
    const migrate = spawnCli(['migrate', '--sources', sourcesFile, '--concurrency', String(CONCURRENCY), '--json'], world.env(emulator.cloudinaryUrl, { MEDIA_ROOT: mediaRoot }));
    watch.watch('migrate', migrate.child.pid!);
    await watch.start();
    await cpu.track('migrate process', migrate.child.pid!);
    await cpu.begin();
    const { code } = await migrate.exited;
    const seconds = (performance.now() - t0) / 1000;
    await watch.stop();
    const report = await cpu.end();
    const out = migrate.output();
    const line = out.trim().split('\n').reverse().find((l) => l.startsWith('{'));
    const summary = JSON.parse(line ?? '{}') as { migrated?: number; failed?: number; missing?: number; pending?: number };
    const after = await emulator.stats();
    const uploads = after.uploadRequests - before.uploadRequests;
    const created = after.created - before.created;
    const ledger = await ledgerTiming(world);

    // What the rows hold now: no reference of ours left, each file's delivery URL in its place.
    const left = (await world.db.raw(
      `select count(*) filter (where body like '%="/media/%' or body like '%, /media/%') as local,
              count(*) filter (where body like '%/image/upload/%' and body like '%/raw/upload/%') as rewritten
         from ${TABLE}`,
    )) as { rows: { local: string; rewritten: string }[] };
    const stillLocal = Number(left.rows[0]?.local ?? NaN);
    const rewritten = Number(left.rows[0]?.rewritten ?? NaN);
    const problems = [
      code !== 0 && `migrate exited ${code}`,
      summary.migrated !== n && `${summary.migrated} of ${n} records migrated (${JSON.stringify(summary)})`,
      uploads !== distinct && `${uploads} upload requests for ${distinct} distinct files`,
      created !== distinct && `${created} assets created for ${distinct} distinct files`,
      stillLocal !== 0 && `${stillLocal} rows still hold a /media/ reference`,
      rewritten !== n && `${rewritten} of ${n} rows hold image and raw delivery URLs`,
    ].filter(Boolean);
    if (problems.length > 0) throw new Error(`bench: T: ${problems.join('; ')}:\n${out.slice(-2000)}`);

    const whole = uploads / seconds;
    const firstToLast = uploads / ledger.seconds;
    return {
      id: 'T',
      title: `Media inside rich text: ${label(n)} posts, ${label(distinct)} files (${LATENCY_MS} ms per upload)`,
      figures: [
        { label: `migrate --concurrency ${CONCURRENCY} over a text column, the whole command`, value: whole, unit: 'uploads/s', digits: 1 },
        {
          label: `share of the in-flight limit (${limit} uploads/s), the whole command`,
          value: (100 * whole) / limit,
          unit: '%',
          digits: 1,
          target: { op: '>=', value: 90 },
        },
        { label: 'share of the in-flight limit, first to last record', value: (100 * firstToLast) / limit, unit: '%', digits: 1 },
        { label: 'rows rewritten', value: rewritten, unit: 'rows', digits: 0 },
        { label: `uploads (each of the ${label(distinct)} distinct files once)`, value: uploads, unit: 'uploads', digits: 0 },
        { label: "migrate's peak RSS", value: mb(watch.peak('migrate')), unit: 'MB', digits: 0 },
        { label: 'wall time of the command', value: seconds, unit: 's', digits: 1 },
      ],
      details: [
        ...table(
          ['', ''],
          [
            ['posts (rows of a `kind: text` column)', label(n)],
            ['references per post / distinct files per post', `4 / ${FILES_PER_ROW} (an \`<img src>\`, a \`srcset\` naming one file twice, an \`<a href>\` to a PDF)`],
            ['files under MEDIA_ROOT', `${label(distinct)} (${fmt(mb(fileBytes), 1)} MB: tiny PNGs and PDFs; written with the rows in ${fmt(writeSeconds, 1)} s)`],
            ['upload requests / assets created', `${label(uploads)} / ${label(created)}`],
            ['rows rewritten (every reference a delivery URL) / still holding a /media/ reference', `${label(rewritten)} / ${label(stillLocal)}`],
            [
              'the command',
              `${fmt(seconds, 1)} s, start-up included (${fmt(whole, 1)} uploads/s, ${fmt(whole * (LATENCY_MS / 1000), 1)} in flight on average); ${fmt(ledger.seconds, 1)} s from the batch's creation to the last record (${fmt(firstToLast, 1)} uploads/s)`,
            ],
            ["migrate's peak RSS / at the end", `${fmt(mb(watch.peak('migrate')), 0)} MB / ${fmt(mb(watch.rss('migrate')), 0)} MB`],
          ],
        ),
        '',
        `\`migrate\` is the real command in its own process, its memory sampled every 250 ms (and the kernel's peak, VmHWM). The limit is ${CONCURRENCY} uploads in flight, each answered after ${LATENCY_MS} ms: ${limit} uploads/s. CPU per upload (machine ${fmt(100 * (report.machineBusy ?? NaN), 0)}% busy):`,
        '',
        ...table(['process', 'CPU ms per upload', '% of one core'], cpuRows(report, uploads)),
      ],
    };
  } finally {
    await world.db.raw(`drop table if exists ${TABLE}`).catch(() => {});
    await world.resetState().catch(() => {});
    await rm(sourcesFile, { force: true });
    await rm(mediaRoot, { recursive: true, force: true });
  }
}
