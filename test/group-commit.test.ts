import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Knex } from 'knex';
import { migrateRecord } from '../src/records/migrate-record.ts';
import { LedgerGroups } from '../src/records/ledger-groups.ts';
import { groupCommitOfWrites } from '../src/db/group-commit.ts';
import { openBatch } from '../src/pipeline/producer.ts';
import { checkSources } from '../src/db/check-sources.ts';
import { createCloudinaryUploader, type Uploader } from '../src/cloudinary/uploader.ts';
import type { Batch } from '../src/ledger/ledger.ts';
import type { CheckedSource } from '../src/config/sources.ts';
import { createHarness, type Harness } from './helpers/harness.ts';
import { pngBytes } from './helpers/images.ts';

/**
 * Group commit: the records a process works on at once note their attempts in one statement and
 * write their rows and outcomes in one transaction. Each record keeps every promise it had alone:
 * its attempt is in the ledger before its upload starts, an app write in between wins for that row
 * only, and a group that fails half-way leaves nothing half-written and costs only the record at fault.
 */

let h: Harness;
beforeEach(async () => {
  h = await createHarness();
  await h.db.schema.createTable('gc_photo', (t) => {
    t.bigIncrements('id').primary();
    t.string('image', 200).notNullable();
    // What the app's database refuses: a new value with "poison" in it (the old one passes).
    t.check('?? not like ?', ['image', 'media/%poison%'], 'gc_photo_no_poison');
  });
});
afterEach(async () => {
  await h.close();
});

const N = 6;

async function seed(names: string[]): Promise<{ batch: Batch; source: CheckedSource }> {
  for (const [i, name] of names.entries()) await h.file(name, pngBytes(3, 2, i + 1));
  await h.db('gc_photo').insert(names.map((image, i) => ({ id: i + 1, image })));
  const [source] = await checkSources(h.db, [{ table: 'gc_photo', column: 'image', pk: 'id' }]);
  const { batch } = await openBatch(h.ledger, { kind: 'migrate', sources: [source!], store: 'public_id', dryRun: false, prefix: 'media/', tag: 'media' });
  await h.ledger.records.addPending(batch.id, source!, names.map((_, i) => String(i + 1)));
  return { batch, source: source! };
}

/**
 * The real uploader, held back until all N uploads are done, so that the N records reach their
 * last write together; `during(i)` runs while record i's upload is in flight.
 */
function together(during: (publicId: string) => Promise<void> = async () => {}): { uploader: Uploader; close(): void } {
  const config = h.config();
  const real = createCloudinaryUploader(config.cloudinary, config.upload);
  let done = 0;
  let release!: () => void;
  const all = new Promise<void>((r) => (release = r));
  const uploader: Uploader = {
    ...real,
    async upload(req) {
      await during(req.publicId);
      const asset = await real.upload(req);
      if (++done === N) release();
      await all;
      return asset;
    },
  };
  return { uploader, close: () => real.close() };
}

function helpers(uploader: Uploader, group: LedgerGroups) {
  const config = h.config();
  return {
    db: h.db,
    group,
    ledger: h.ledger,
    uploader,
    mediaRoot: config.mediaRoot,
    limits: { maxFileBytes: 1e7, keepInMemoryUpToBytes: 1e7 },
    cloudName: config.cloudinary.cloudName,
    logger: h.logs.logger,
  };
}

const names = (poison?: number) => Array.from({ length: N }, (_, i) => (i + 1 === poison ? `p/poison-${i + 1}.png` : `p/${i + 1}.png`));

describe('group commit', () => {
  it('writes the rows and outcomes of records that finish together in one transaction, and an app write in between wins for its row only', async () => {
    const { batch, source } = await seed(names());
    const attemptsSeen: number[] = [];
    const { uploader, close } = together(async (publicId) => {
      // Each record's attempt is committed before its upload starts, grouped or not.
      const rec = await h.db('media_migrate_records').where({ public_id: publicId }).first();
      attemptsSeen.push(Number(rec?.attempts ?? 0));
      // The app saves a new picture for row 3 while its file uploads.
      if (publicId.includes('/3_')) await h.db('gc_photo').where({ id: 3 }).update({ image: 'p/new-by-app.png' });
    });
    const group = new LedgerGroups(h.db, h.ledger);
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) => migrateRecord({ batch, source, ref: { batchId: batch.id, table: 'gc_photo', column: 'image', pk: String(i + 1) } }, helpers(uploader, group))),
    );
    close();
    await group.close();

    expect(attemptsSeen).toEqual(Array(N).fill(1));
    expect(results.map((r) => `${r.outcome}/${r.reason}`)).toEqual(['migrated/uploaded', 'migrated/uploaded', 'skipped/changed', 'migrated/uploaded', 'migrated/uploaded', 'migrated/uploaded']);
    // One transaction for the six last writes.
    expect(group.rows.stats).toEqual({ writes: N, transactions: 1, fallbacks: 0 });
    const rows = await h.db('gc_photo').orderBy('id');
    const recs = await h.db('media_migrate_records').orderBy('pk');
    for (const [i, row] of rows.entries()) {
      const rec = recs.find((r) => r.pk === String(row.id))!;
      if (Number(row.id) === 3) {
        expect(row.image).toBe('p/new-by-app.png');
        expect(rec).toMatchObject({ outcome: 'skipped', reason: 'changed', new_value: null });
      } else {
        expect(row.image).toMatch(new RegExp(`^media/p/${i + 1}_[a-z0-9]{6}$`));
        expect(rec).toMatchObject({ outcome: 'migrated', reason: 'uploaded', new_value: row.image, public_id: row.image, old_value: `p/${i + 1}.png` });
      }
    }
  });

  it('when a group fails half-way, writes nothing of it, then each record on its own: only the one at fault fails', async () => {
    const { batch, source } = await seed(names(4));
    const { uploader, close } = together();
    const group = new LedgerGroups(h.db, h.ledger);
    const settled = await Promise.allSettled(
      Array.from({ length: N }, (_, i) => migrateRecord({ batch, source, ref: { batchId: batch.id, table: 'gc_photo', column: 'image', pk: String(i + 1) } }, helpers(uploader, group))),
    );
    close();
    await group.close();

    // The group's transaction failed at record 4's row (the CHECK) and was rolled back; each was then
    // written on its own.
    expect(group.rows.stats).toEqual({ writes: N - 1, transactions: N - 1, fallbacks: 1 });
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
    const failure = settled[3] as PromiseRejectedResult;
    expect(String(failure.reason)).toMatch(/gc_photo_no_poison|CHECK constraint|check constraint/i);
    const rows = await h.db('gc_photo').orderBy('id');
    const recs = await h.db('media_migrate_records').orderBy('pk');
    for (const row of rows) {
      const rec = recs.find((r) => r.pk === String(row.id))!;
      if (Number(row.id) === 4) {
        // Neither half of its write happened: the row holds its path, the record is open (the job retries).
        expect(row.image).toBe('p/poison-4.png');
        expect(rec).toMatchObject({ outcome: 'pending', new_value: null, attempts: 1 });
        expect(rec.public_id).toMatch(/^media\/p\/poison-4_/);
      } else {
        expect(rec).toMatchObject({ outcome: 'migrated', new_value: row.image });
        expect(row.image).toMatch(/^media\/p\/\d_[a-z0-9]{6}$/);
      }
    }
  });

  it('a write of a failed group runs again alone, and the others see no error', async () => {
    const commits = groupCommitOfWrites(h.db);
    await h.db('gc_photo').insert([{ id: 1, image: 'a' }, { id: 2, image: 'b' }, { id: 3, image: 'c' }]);
    const write = (id: number, image: string) => (trx: Knex.Transaction) => trx('gc_photo').where({ id }).update({ image });
    const settled = await Promise.allSettled([commits.add(write(1, 'a2')), commits.add(write(2, 'media/poison')), commits.add(write(3, 'c2'))]);
    await commits.close();
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(commits.stats).toEqual({ transactions: 2, writes: 2, fallbacks: 1 });
    expect((await h.db('gc_photo').orderBy('id')).map((r) => r.image)).toEqual(['a2', 'b', 'c2']);
  });

  it("notes a group's attempts in one statement, and when the database refuses one, still notes the others", async () => {
    const { batch } = await seed(names().slice(0, 3));
    // The database refuses one attempt (a trigger, as an app's own might).
    const poison = {
      pg: [
        `create function mm_poison() returns trigger as $$ begin if new.public_id = 'poison' then raise exception 'poison attempt'; end if; return new; end $$ language plpgsql`,
        'create trigger mm_poison before update on media_migrate_records for each row execute function mm_poison()',
      ],
      mysql: [
        "create trigger mm_poison before update on media_migrate_records for each row begin if new.public_id = 'poison' then signal sqlstate '45000' set message_text = 'poison attempt'; end if; end",
      ],
      sqlite: ["create trigger mm_poison before update on media_migrate_records when new.public_id = 'poison' begin select raise(abort, 'poison attempt'); end"],
    }[h.dialect];
    for (const sql of poison) await h.db.raw(sql);
    const ids = (await h.db('media_migrate_records').where({ batch_id: batch.id }).orderBy('pk').select('id')).map((r) => Number(r.id));
    const group = new LedgerGroups(h.db, h.ledger);
    const settled = await Promise.allSettled([
      group.noteAttempt(ids[0]!, { publicId: 'media/p/1_aaaaaa', oldValue: 'p/1.png' }),
      group.noteAttempt(ids[1]!, { publicId: 'poison', oldValue: 'p/2.png' }),
      group.noteAttempt(ids[2]!, { publicId: 'media/p/3_cccccc', oldValue: 'p/3.png' }),
    ]);
    await group.close();
    expect(settled.map((x) => x.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(String((settled[1] as PromiseRejectedResult).reason)).toContain('poison attempt');
    const recs = await h.db('media_migrate_records').whereIn('id', ids).orderBy('pk');
    expect(recs.map((r) => [Number(r.attempts), r.public_id])).toEqual([
      [1, 'media/p/1_aaaaaa'],
      [0, null],
      [1, 'media/p/3_cccccc'],
    ]);
  });
});
