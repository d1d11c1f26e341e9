import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listWorkers } from '../src/pipeline/worker-registry.ts';
import { createHarness, TEST_REDIS_URL, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { waitFor } from './helpers/processes.ts';

/**
 * A worker started where the media volume is not mounted must not mark the library missing: it
 * refuses a batch whose MEDIA_ROOT fingerprint it cannot see, and pauses itself after a streak of
 * missing files while other workers find theirs.
 */

let h: Harness;
let elsewhere: string;
let redis: Redis;
beforeEach(async () => {
  h = await createHarness();
  elsewhere = await mkdtemp(join(tmpdir(), 'mm-unmounted-'));
  redis = new Redis(TEST_REDIS_URL);
});
afterEach(async () => {
  redis.disconnect();
  await h.close();
  await rm(elsewhere, { recursive: true, force: true });
});

async function seed(n: number) {
  for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(2 + (i % 7), 3, i));
  const rows = Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` }));
  for (let i = 0; i < rows.length; i += 200) await h.db('shop_productimages').insert(rows.slice(i, i + 200));
}

const counts = () => h.ledger.counts.total(1);

describe('workers that cannot see the media', () => {
  it('refuse a batch whose MEDIA_ROOT fingerprint they cannot see, with one line naming MEDIA_ROOT and the file', async () => {
    await seed(12);
    expect((await h.run(['enqueue'])).code).toBe(0);
    const batch = (await h.ledger.batches.get(1))!;
    expect(batch.fingerprint?.files.map((f) => f.path)).toEqual(['p/1.png', 'p/2.png', 'p/3.png', 'p/4.png', 'p/5.png']);

    const stop = new AbortController();
    const blind = h.run(['worker', '--concurrency', '4'], { env: { MEDIA_ROOT: elsewhere }, signal: stop.signal });
    const refusal = `MEDIA_ROOT=${elsewhere}: this machine cannot see p/1.png, one of batch 1's files; it refuses the batch's jobs (mount the media there, or set MEDIA_ROOT to where it is)`;
    await waitFor('the refusal', async () => h.logs.records().some((l) => l.msg === refusal));
    const workers = await waitFor('the worker to say it refuses', async () => {
      const w = await listWorkers(redis, h.prefix);
      return w.some((x) => x.state === 'refusing') ? w : undefined;
    });
    expect(workers.find((x) => x.state === 'refusing')?.detail).toBe(refusal);
    await new Promise((r) => setTimeout(r, 500));
    expect(await counts()).toMatchObject({ pending: 12, missing: 0 });
    expect(h.logs.records().filter((l) => l.msg === refusal)).toHaveLength(1);

    // `migrate --batch 1` on such a machine stops at once with the same line, exit 2.
    const m = await h.run(['migrate', '--batch', '1'], { env: { MEDIA_ROOT: elsewhere } });
    expect(m.code).toBe(2);
    expect(m.stderr.trim()).toBe(`media-migrate: ${refusal}`);

    // A worker that sees the media does the batch; the blind one changed nothing meanwhile.
    const good = h.run(['worker', '--concurrency', '4'], { signal: stop.signal });
    await waitFor('the batch to finish', async () => (await counts()).pending === 0, 30_000);
    stop.abort();
    expect((await blind).code).toBe(0);
    expect((await good).code).toBe(0);
    expect(await counts()).toMatchObject({ migrated: 12, missing: 0 });
  });

  it('pauses itself after 50 missing in a row while another worker finds its files, and hands them back', async () => {
    await seed(300);
    // Enqueued where MEDIA_ROOT is not set: no fingerprint, so only the second guard can tell.
    expect((await h.run(['enqueue'], { env: { MEDIA_ROOT: '' } })).code).toBe(0);
    expect((await h.ledger.batches.get(1))!.fingerprint).toBeUndefined();
    const stop = new AbortController();
    const good = h.run(['worker', '--concurrency', '2'], { signal: stop.signal });
    await waitFor('the good worker to find a file', async () => (await counts()).migrated > 0);
    const blind = h.run(['worker', '--concurrency', '4'], { env: { MEDIA_ROOT: elsewhere }, signal: stop.signal });
    const paused = await waitFor('the blind worker to pause', async () => h.logs.records().find((l) => String(l.msg).includes('were all missing while other workers found theirs')));
    expect(paused.msg).toBe(
      `MEDIA_ROOT=${elsewhere}: the last 50 records this worker took of batch 1 were all missing while other workers found theirs; it paused itself and handed them back (check the media mount on this machine, then restart this worker)`,
    );
    expect((await listWorkers(redis, h.prefix)).some((w) => w.state === 'paused' && w.detail === paused.msg)).toBe(true);
    await waitFor('the batch to finish', async () => (await counts()).pending === 0, 60_000);
    stop.abort();
    await Promise.all([good, blind]);
    // What the blind worker marked missing was handed back and migrated by the other: nothing is lost.
    expect(await counts()).toMatchObject({ migrated: 300, missing: 0, pending: 0 });
  });
});
