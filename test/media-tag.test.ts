import { afterEach, describe, expect, it } from 'vitest';
import { startRecordWorker } from '../src/pipeline/record-worker.ts';
import { createMediaTagger } from '../src/cloudinary/media-tagger.ts';
import { createCloudinaryUploader } from '../src/cloudinary/uploader.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';
import { waitFor } from './helpers/processes.ts';

/**
 * An asset gets MEDIA_TAG once its row holds its id, in calls grouping the records that finish close
 * together. The last record of a run must not wait for the next timed call or for the worker's
 * close: that wait was added to the end of every command.
 */

let h: Harness;
afterEach(async () => {
  await h?.close();
});

describe('MEDIA_TAG', () => {
  it('is given as soon as the worker has no record left in hand, not at the next timed call or at close', async () => {
    h = await createHarness();
    const n = 3;
    for (let i = 1; i <= n; i++) await h.file(`p/${i}.png`, pngBytes(3, 2, i));
    await h.db('shop_productimages').insert(Array.from({ length: n }, (_, i) => ({ image: `p/${i + 1}.png` })));
    expect((await h.run(['enqueue', '--only', 'shop_productimages'])).code).toBe(0);

    const pipeline = h.pipeline();
    const worker = startRecordWorker({
      ...pipeline.deps,
      concurrency: 4,
      // The timed call would come only after the test has given up.
      tagFlushMs: 600_000,
    });
    try {
      await waitFor(
        'every record migrated and tagged while the worker runs',
        async () => {
          const recs = await h.db('media_migrate_records').where({ batch_id: 1 });
          return recs.length === n && recs.every((r) => r.outcome === 'migrated' && (r.tagged === true || r.tagged === 1));
        },
        15_000,
        50,
      );
      const rows = await h.db('shop_productimages');
      for (const row of rows) expect(h.emulator.assets.get(String(row.image))?.tags).toContain(h.config().storage.tag);
    } finally {
      await worker.close();
      await pipeline.close();
    }
  }, 60_000);

  it('sends a timed call only once the one before it has answered, while a flush asked for goes at once', async () => {
    h = await createHarness();
    const config = h.config();
    const real = createCloudinaryUploader(config.cloudinary, config.upload);
    const calls: string[][] = [];
    let answer!: () => void;
    const held = new Promise<void>((r) => (answer = r));
    // Cloudinary holding the first tag call: the timer ticks on meanwhile.
    const uploader = { ...real, addTag: async (_tag: string, ids: readonly string[]) => void (calls.push([...ids]), calls.length === 1 && (await held)) };
    const tagger = createMediaTagger({ ledger: h.ledger, uploader, logger: h.logs.logger, flushMs: 10 });
    try {
      tagger.add(1, 'media/a', 'media');
      await waitFor('the first timed call', async () => calls.length === 1, 5_000, 5);
      for (let i = 2; i <= 5; i++) {
        tagger.add(i, `media/${i}`, 'media');
        await new Promise((r) => setTimeout(r, 30));
      }
      // Many ticks later, still the one call: the others wait for its answer.
      expect(calls).toEqual([['media/a']]);
      // Asked for (the worker's last record), a flush does not wait behind it.
      const asked = tagger.flush();
      await waitFor('the asked-for call', async () => calls.length === 2, 5_000, 5);
      expect(calls[1]).toEqual(['media/2', 'media/3', 'media/4', 'media/5']);
      answer();
      await asked;
    } finally {
      answer();
      await tagger.close();
      real.close();
    }
  });
});
