import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import cloudinaryPkg from 'cloudinary';
import { rowKey, startCutoverProbe } from '../src/cutover/probe.ts';
import { deliveryUrlOptions } from '../src/emulator/server.ts';
import { pngBytes } from '../src/django/sample-images.ts';
import { prependPrefix } from '../src/cloudinary/storage-convention.ts';
import { fmt, table, type BenchContext, type ScenarioResult } from './report.ts';
import { SOURCE_TABLE, spawnCli, succeeded, type World } from './world.ts';

const { v2: cloudinary } = cloudinaryPkg;

/**
 * C. The zero-downtime cutover on a library of real size, uploads answered after 250 ms: `stage`
 * places every file at its in-place id, the storage is switched, and `migrate` rewrites the rows while
 * a visitor fetches every row's image in a loop, through the URL MediaCloudinaryStorage builds for the
 * row's current value. One row in a hundred has a name Cloudinary's rules forbid in a public_id
 * (`#`), so the stage cannot place it: those are the rows a switch exposes, until `migrate`
 * uploads and rewrites them first. Every figure of the note comes from here.
 */
const LATENCY_MS = 250;
const CONCURRENCY = 32;

export async function scenarioCutover(ctx: BenchContext, world: World): Promise<ScenarioResult> {
  const n = ctx.quick ? 300 : 4_000;
  const awkward = (i: number) => i % 100 === 7;
  ctx.log(`C: ${n.toLocaleString('en-US')} rows, one in a hundred named with a #`);
  const files = new Map<string, Buffer>();
  const values: string[] = [];
  for (let i = 0; i < n; i++) {
    const value = awkward(i) ? `products/c${i} #2.png` : `products/c${i}.png`;
    const bytes = pngBytes(16 + (i % 9), 12 + (i % 5), 100_000 + i);
    await writeFile(join(world.mediaRoot, value), bytes);
    files.set(value, bytes);
    values.push(value);
  }
  await world.db.raw(`truncate ${SOURCE_TABLE} restart identity`);
  for (let i = 0; i < values.length; i += 1_000) await world.db(SOURCE_TABLE).insert(values.slice(i, i + 1_000).map((image) => ({ image })));
  await world.resetState();
  const emulator = await world.emulator(LATENCY_MS);
  const env = world.env(emulator.cloudinaryUrl);

  const t0 = performance.now();
  const stage = JSON.parse((await succeeded(spawnCli(['stage', '--concurrency', String(CONCURRENCY), '--json'], env), 'stage')).trim().split('\n').pop()!) as {
    staged: number;
    notInPlace: number;
  };
  const stageSeconds = (performance.now() - t0) / 1000;

  // Every row's image, judged through the cutover; the not-in-place ones too, to see their window.
  const expected = new Map<string, Buffer>();
  for (const r of (await world.db(SOURCE_TABLE).select('id', 'image')) as { id: number; image: string }[]) expected.set(rowKey(SOURCE_TABLE, r.id), files.get(r.image)!);
  const target = { url: emulator.url, cloudName: 'demo' };
  const probe = startCutoverProbe({
    db: world.db,
    sources: [{ table: SOURCE_TABLE, column: 'image', pk: 'id' }],
    expected,
    fileUrl: () => 'http://127.0.0.1:9/unused',
    storageUrl: (value) => cloudinary.url(prependPrefix(value, 'media/'), { ...deliveryUrlOptions(target), resource_type: 'image' }),
    concurrency: 16,
  });
  probe.switchStorage();
  const before = await emulator.stats();
  const t1 = performance.now();
  const migrate = JSON.parse((await succeeded(spawnCli(['migrate', '--concurrency', String(CONCURRENCY), '--json'], env), 'migrate')).trim().split('\n').pop()!) as {
    migrated: number;
    inPlace: number;
    rewrittenFirst: number;
    exposedSeconds: number | null;
  };
  const migrateSeconds = (performance.now() - t1) / 1000;
  const uploads = (await emulator.stats()).uploadRequests - before.uploadRequests;
  const report = await probe.stop();

  const notInPlaceKeys = new Set(
    ((await world.db(SOURCE_TABLE).select('id', 'image')) as { id: number; image: string }[])
      .filter((r) => awkward(r.id - 1))
      .map((r) => rowKey(SOURCE_TABLE, r.id)),
  );
  const brokenStaged = report.broken.filter((b) => !notInPlaceKeys.has(rowKey(b.table, b.pk)));
  const lastBrokenMs = Math.max(0, ...report.broken.filter((b) => notInPlaceKeys.has(rowKey(b.table, b.pk))).map((b) => b.atMs));
  await world.resetState();
  await world.db.raw(`truncate ${SOURCE_TABLE}`);
  return {
    id: 'C',
    title: `The zero-downtime cutover (${n.toLocaleString('en-US')} rows, ${LATENCY_MS} ms per upload)`,
    figures: [
      { label: 'staged', value: stage.staged, unit: 'rows', digits: 0 },
      { label: 'not in place', value: stage.notInPlace, unit: 'rows', digits: 0 },
      { label: 'uploads during the rewrite', value: uploads, unit: 'uploads', digits: 0 },
      { label: 'broken fetches of staged rows during the cutover', value: brokenStaged.length, unit: 'fetches', digits: 0, target: { op: '<=', value: 0 } },
      { label: 'not-in-place rows rewritten within (of the batch start)', value: migrate.exposedSeconds ?? NaN, unit: 's', digits: 1 },
    ],
    details: [
      ...table(
        ['step', 'figures'],
        [
          ['stage', `${fmt(stage.staged, 0)} staged, ${fmt(stage.notInPlace, 0)} not in place (a # in the name), ${fmt(stageSeconds, 1)} s`],
          ['switch', 'the visitor now builds MediaCloudinaryStorage URLs for every row'],
          [
            'migrate',
            `${fmt(migrate.inPlace, 0)} rewritten in place (no upload), ${fmt(migrate.rewrittenFirst, 0)} uploaded and rewritten first, ${fmt(uploads, 0)} uploads in all, ${fmt(migrateSeconds, 1)} s`,
          ],
          [
            'the visitor',
            `${fmt(report.fetches, 0)} fetches in ${fmt(report.rounds, 0)} rounds: ${fmt(brokenStaged.length, 0)} broken among staged rows; the not-in-place rows answered 404 until the last of them was rewritten ${fmt(lastBrokenMs / 1000, 1)} s after the switch (its last failed fetch)`,
          ],
        ],
      ),
      '',
      `\`stage\` and \`migrate\` are the real commands (${CONCURRENCY} uploads in flight, each answered after ${LATENCY_MS} ms). The visitor fetches every row's URL, 16 at a time, as the app builds it for the row's current value; a fetch is broken when it does not answer that row's own bytes. The "within" figure is migrate's own (\`exposedSeconds\`: from the batch's creation to the last not-in-place row rewritten); the switch came just before the batch here, as in the README's steps.`,
    ],
  };
}
