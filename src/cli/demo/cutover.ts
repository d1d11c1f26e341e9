import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import cloudinaryPkg from 'cloudinary';
import { rowKey, startCutoverProbe } from '../../cutover/probe.ts';
import { deliveryUrlOptions, type Emulator } from '../../emulator/server.ts';
import { detectImageFormat, resolveInside } from '../../media/media-file.ts';
import { pngBytes } from '../../django/sample-images.ts';
import { defaultSources } from '../../config/sources.ts';
import { prependPrefix } from '../../cloudinary/storage-convention.ts';
import type { DemoDatabase } from './shop.ts';
import { println, type CommandIO } from '../io.ts';

const { v2: cloudinary } = cloudinaryPkg;

export interface CutoverDemo {
  io: CommandIO;
  emulator: Emulator;
  database: DemoDatabase;
  mediaRoot: string;
  concurrency: number;
  /** The app takes an upload: a new file and its row. */
  addRow(r: { rel: string; bytes: Buffer }): Promise<void>;
  /** The commands the demo runs, passed in by the demo command (so this module imports no command). */
  commands: {
    stage(opts: { concurrency: number }, io: CommandIO): Promise<number>;
    migrate(opts: { concurrency: number }, io: CommandIO): Promise<number>;
    verify(opts: object, io: CommandIO): Promise<number>;
  };
}

/**
 * `demo --cutover`: the staged cutover end to end, with a visitor fetching every row's image all the
 * while — from the app's own /media/ (Django's file storage, served from MEDIA_ROOT) before the
 * switch, from Cloudinary as MediaCloudinaryStorage builds the URL after it. Stage, take a new upload,
 * verify, stage the delta, switch, migrate, verify; then count the images that broke. Exit 1 if any did.
 */
export async function runCutoverDemo(d: CutoverDemo): Promise<number> {
  const { io } = d;
  const sources = defaultSources('shop');
  const files = await serveMedia(d.mediaRoot);
  const db = d.database.open();
  const say = (line: string) => println(io.stderr, line);
  try {
    // The rows whose image works before the cutover: what must keep working through it.
    const expected = new Map<string, Buffer>();
    const note = async () => {
      for (const s of sources) {
        for (const r of (await db(s.table).select(s.pk, s.column)) as Record<string, unknown>[]) {
          const bytes = await imageAt(d.mediaRoot, r[s.column]);
          if (bytes && !expected.has(rowKey(s.table, r[s.pk]))) expected.set(rowKey(s.table, r[s.pk]), bytes);
        }
      }
    };
    await note();
    const probe = startCutoverProbe({
      db,
      sources,
      expected,
      fileUrl: (value) => `${files.url}/media/${value.split('/').map(encodeURIComponent).join('/')}`,
      storageUrl: (value) => cloudinary.url(prependPrefix(value, 'media/'), { ...deliveryUrlOptions(d.emulator), resource_type: 'image' }),
    });
    const started = Date.now();
    const step = (n: number, what: string) => say(`\n── ${n}/7 ${what} (${((Date.now() - started) / 1000).toFixed(1)} s)`);

    step(1, 'stage: every file goes where MediaCloudinaryStorage will look for it; no row changes');
    if ((await d.commands.stage({ concurrency: d.concurrency }, io)) === 2) return 2;
    step(2, 'the live app takes a new upload (still on the file storage)');
    await d.addRow({ rel: 'products/2024/new-arrival.png', bytes: pngBytes(21, 13, 4711) });
    await note();
    step(3, 'verify: would switching now serve every staged row?');
    await d.commands.verify({}, io);
    step(4, 'stage again right before the switch: only what was added or changed');
    if ((await d.commands.stage({ concurrency: d.concurrency }, io)) === 2) return 2;
    step(5, 'switch: the app now runs on MediaCloudinaryStorage (simulated deploy)');
    probe.switchStorage();
    step(6, 'migrate: rows are rewritten to their staged assets (no upload), the rest uploaded first');
    if ((await d.commands.migrate({ concurrency: d.concurrency }, io)) === 2) return 2;
    step(7, 'verify the rewrite');
    await d.commands.verify({}, io);
    const report = await probe.stop();

    say('');
    say(`The visitor fetched ${report.fetches} images of ${expected.size} rows in ${report.rounds} rounds, before, during and after the switch.`);
    for (const b of report.broken.slice(0, 10)) say(`  broken: ${b.table}[${b.pk}] ${JSON.stringify(b.value)} answered ${b.status} at ${b.atMs} ms (${b.url})`);
    println(io.stdout, `broken images during the cutover: ${report.brokenRows}`);
    return report.brokenRows === 0 ? 0 : 1;
  } finally {
    await db.destroy();
    await new Promise((r) => files.server.close(r));
  }
}

/** The bytes behind a value when it names an image under MEDIA_ROOT, the way the app would serve it. */
async function imageAt(mediaRoot: string, value: unknown): Promise<Buffer | undefined> {
  if (typeof value !== 'string' || value === '') return undefined;
  try {
    const path = await resolveInside(mediaRoot, value);
    if (!path) return undefined;
    const bytes = await readFile(path);
    return bytes.length > 0 && detectImageFormat(bytes.subarray(0, 1024)) ? bytes : undefined;
  } catch {
    return undefined;
  }
}

/** The app's MEDIA_URL on the file storage: GET /media/<path> answers the file under MEDIA_ROOT. */
async function serveMedia(mediaRoot: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!path.startsWith('/media/')) return void res.writeHead(404).end();
    let rel: string;
    try {
      rel = decodeURIComponent(path.slice('/media/'.length));
    } catch {
      return void res.writeHead(400).end();
    }
    resolveInside(mediaRoot, rel)
      .then((p) => (p ? readFile(p) : undefined))
      .then(
        (bytes) => (bytes ? res.writeHead(200, { 'Content-Length': bytes.length }).end(bytes) : res.writeHead(404).end()),
        () => res.writeHead(404).end(),
      );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}
