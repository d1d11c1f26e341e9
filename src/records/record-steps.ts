import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { MediaTagger } from '../cloudinary/media-tagger.ts';
import { PermanentError } from '../errors.ts';
import type { Batch, Finish, Ledger, LedgerRecord, RecordRef } from '../ledger/ledger.ts';
import { readMediaFile, type MediaFile, type MediaLimits } from '../media/media-file.ts';
import { Outcome, Reason, type FinalOutcome } from '../outcomes.ts';
import { resourceTypeOf, type CheckedSource, type ResourceType } from '../config/sources.ts';
import { isRemoteUrl, isStoragePublicId, mayBeOurValue } from '../cloudinary/storage-convention.ts';
import type { Uploader } from '../cloudinary/uploader.ts';
import type { LedgerGroups } from './ledger-groups.ts';

/**
 * The steps every record takes whatever its batch's kind (stage or migrate): read the ledger row and
 * the app row, settle what needs no file (gone, empty, a URL, already ours), then read the file. Each
 * step is safe to repeat: a job may run again after a crash, a stall or a Redis loss.
 */

/** Everything a record handler needs, passed in so a test can hand it real services with its own settings. */
export interface RecordHelpers {
  db: Knex;
  /** The ledger round trips this process's records share (group commit). */
  group: LedgerGroups;
  ledger: Ledger;
  uploader: Uploader;
  mediaRoot: string;
  limits: MediaLimits;
  cloudName: string;
  logger: Logger;
  /** Gives MEDIA_TAG to assets once their row holds their id; without one, a later sweep does. */
  tagger?: MediaTagger | undefined;
}

export interface RecordTask {
  batch: Batch;
  source: CheckedSource;
  ref: RecordRef;
}

/** What a job returns to the queue: the record's final outcome, in the queue's own terms. */
export interface RecordJobResult {
  outcome: FinalOutcome;
  reason: Reason;
  publicId?: string | undefined;
}

export interface RecordResult extends RecordJobResult {
  detail?: string | undefined;
}

/** Human name of a record in messages: `shop_productimages.image[id=4711]`. */
export function recordLabel(ref: Pick<RecordRef, 'table' | 'column' | 'pk'>, pkColumn = 'pk'): string {
  return `${ref.table}.${ref.column}[${pkColumn}=${ref.pk}]`;
}

const OPEN: readonly string[] = [Outcome.pending, Outcome.failed];

export type Finisher = (f: Finish) => Promise<RecordResult>;

/** A record still to work on: its ledger row, the value its app row holds, and how to end it. */
export interface OpenRecord {
  rec: LedgerRecord;
  value: string;
  finish: Finisher;
}

/** Either the record is still to work on, or it has ended (now, or in an earlier run). */
export type Opened = { open: OpenRecord } | { ended: RecordResult; replay: LedgerRecord | undefined };

export function resultOf(rec: LedgerRecord | undefined): RecordResult {
  return {
    outcome: (rec?.outcome ?? Outcome.failed) as RecordResult['outcome'],
    reason: rec?.reason ?? Reason.retriesExhausted,
    publicId: rec?.publicId,
  };
}

/**
 * Reads the ledger row and the app row, and ends the record when its value holds no file to move:
 * the row is gone, the value is empty or a URL, or it is a value an earlier batch wrote.
 */
export async function openRecord(task: RecordTask, h: RecordHelpers): Promise<Opened> {
  const { ref, source } = task;
  const { record: rec, row } = await readRecord(h, ref, source);
  // A replay after the outcome was written (a stalled job, a re-added id): keep what was decided.
  if (!OPEN.includes(rec.outcome)) return { ended: resultOf(rec), replay: rec };
  if (rec.outcome === Outcome.failed) await h.ledger.records.reopen(rec.id);
  const finish: Finisher = (f) =>
    h.group.run(async (trx) => {
      const wrote = await h.ledger.records.finish(trx, rec.id, f);
      if (!wrote) return resultOf(await h.ledger.records.get(ref, trx));
      return { outcome: f.outcome, reason: f.reason, publicId: f.publicId, detail: f.detail };
    });
  const end = async (f: Finish): Promise<Opened> => ({ ended: await finish(f), replay: undefined });

  if (!row.exists) return end({ outcome: Outcome.skipped, reason: Reason.rowDeleted, detail: 'the row no longer exists' });
  const value = row.value;
  if (value === undefined || value.trim() === '') return end({ outcome: Outcome.skipped, reason: Reason.empty, oldValue: value });
  if (isRemoteUrl(value)) return end({ outcome: Outcome.skipped, reason: Reason.remoteUrl, oldValue: value });
  // Only an extension-less value can be one we wrote (image and video public_ids have none; URLs were
  // handled above), so the common case, a file name, costs no query here. A raw public_id keeps its
  // extension but starts with PREFIX, which a Django file name does not.
  if (mayBeOurValue(value, task.batch.prefix, resourceTypeOf(source)) && (await h.ledger.records.holdsOurValue(ref, value))) {
    return end({ outcome: Outcome.skipped, reason: Reason.alreadyMigrated, oldValue: value, newValue: value });
  }
  return { open: { rec, value, finish } };
}

/**
 * The file behind the value, checked (path, size, magic bytes) and hashed; or the record ended as
 * failed, missing, or skipped when the value is a public_id the storage class wrote itself.
 * `extra` rides on every outcome written here (a stage batch notes the in-place id with it).
 */
export async function readFileOrFinish(
  task: RecordTask,
  h: RecordHelpers,
  open: OpenRecord,
  extra: Partial<Finish> = {},
): Promise<{ file: MediaFile } | { ended: RecordResult }> {
  const { value, finish } = open;
  let file: MediaFile | undefined;
  try {
    file = await readMediaFile(h.mediaRoot, value, h.limits, resourceTypeOf(task.source));
  } catch (err) {
    if (err instanceof PermanentError) {
      return { ended: await finish(Object.assign({}, extra, { outcome: Outcome.failed, reason: err.reason, detail: err.message, oldValue: value })) };
    }
    throw err;
  }
  if (file) return { file };
  if (isStoragePublicId(value, task.batch.prefix, resourceTypeOf(task.source))) {
    return { ended: await finish({ outcome: Outcome.skipped, reason: Reason.cloudinaryId, oldValue: value, detail: 'already a Cloudinary public_id' }) };
  }
  // Object.assign rather than a spread then properties: Node 20's V8 reshapes the object for each.
  return { ended: await finish(Object.assign({}, extra, { outcome: Outcome.missing, reason: Reason.notFound, oldValue: value, detail: `no file at MEDIA_ROOT/${value}` })) };
}

/**
 * The record's ledger row and its app row's current value, in one query. The producer inserted the
 * ledger row; a job re-added by hand (bull-board) may arrive without one, so it is created then.
 */
export async function readRecord(h: Pick<RecordHelpers, 'ledger' | 'group'>, ref: RecordRef, source: CheckedSource) {
  const found = await h.group.getWithRow(ref, source);
  if (found) return found;
  await h.ledger.records.addPending(ref.batchId, ref, [ref.pk]);
  const created = await h.ledger.records.getWithRow(ref, source);
  if (!created) throw new Error(`ledger row for ${recordLabel(ref)} could not be created`);
  return created;
}

/** Deletes an asset we uploaded only if no row points at it and no other record is working towards it. */
export async function discardUnwanted(h: RecordHelpers, publicId: string, recordId: number, resourceType: ResourceType = 'image'): Promise<void> {
  if (await h.ledger.records.isPublicIdWanted(publicId, recordId)) return;
  try {
    await h.uploader.destroy(publicId, resourceType);
    h.logger.info({ publicId }, 'removed an asset no row points at');
  } catch (err) {
    // Not fatal for the record: `verify` reports assets no row points at.
    h.logger.warn({ publicId, err }, 'could not remove an unused asset');
  }
}

export const isOpenOutcome = (outcome: string): boolean => OPEN.includes(outcome);
