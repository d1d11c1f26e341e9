import { PermanentError } from '../errors.ts';
import { whereTextIs } from '../db/connect.ts';
import type { Finish } from '../ledger/ledger.ts';
import { readMediaFile, type MediaFile } from '../media/media-file.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { findReferences, referencedNames } from '../text/references.ts';
import { rewriteReferences } from '../text/rewrite.ts';
import type { TextReference } from '../text/types.ts';
import { isOpenOutcome, readRecord, resultOf, type RecordHelpers, type RecordResult, type RecordTask } from './record-steps.ts';
import { assetFor, type ReferencedAsset } from './text-assets.ts';

/**
 * One text record's story: a row whose column holds HTML, Markdown or JSON with media URLs inside.
 * Read the text, find the URLs that are ours (MEDIA_URL on no host or one of MEDIA_ORIGINS), check and
 * upload each file they name once (the same public_id and checks as a file column), then rewrite the
 * row in one compare-and-swap on the text as it was read: each reference becomes its asset's https
 * delivery URL, every other byte stays. A row edited meanwhile is read again and redone, never
 * clobbered. Files not on disk are left as they were and named (`missing`); `retry-failed --outcome
 * missing` finishes the row once they are back. Assets referenced only from text never get MEDIA_TAG:
 * deleteorphanedmedia would delete them (it reads FileFields only).
 */

/** What the ledger keeps of each file a text record references (its `refs` column, as JSON). */
export interface TextRefState {
  name: string;
  state: 'rewritten' | 'missing' | 'failed' | 'unsafe';
  /** How many times the text referenced it in the pass that decided its state. */
  count: number;
  resourceType?: string;
  publicId?: string;
  url?: string;
  /** The file's MD5 when it was rewritten: what its URL must keep serving (`verify` checks it). */
  etag?: string;
  reason?: string;
  detail?: string;
}

/** A row edited between our read and our write is read again this many times before it is left alone. */
const REWRITE_TRIES = 3;

class RowChanged extends Error {}

export async function textRecord(task: RecordTask, h: RecordHelpers): Promise<RecordResult> {
  const { source, ref, batch } = task;
  const { record: rec, row: first } = await readRecord(h, ref, source);
  if (!isOpenOutcome(rec.outcome)) return resultOf(rec);
  if (rec.outcome === Outcome.failed) await h.ledger.records.reopen(rec.id);
  const finish = async (f: Finish, db = h.db): Promise<RecordResult> => {
    const wrote = await h.ledger.records.finish(db, rec.id, { tagged: null, ...f });
    if (!wrote) return resultOf(await h.ledger.records.get(ref));
    return { outcome: f.outcome, reason: f.reason, detail: f.detail };
  };
  const settings = source.references ?? { mediaUrl: '/media/', mediaOrigins: [] };
  // What an earlier pass of this record rewrote stays rewritten; the rest is decided again now.
  const earlier = (rec.refs ? (JSON.parse(rec.refs) as TextRefState[]) : []).filter((e) => e.state === 'rewritten');

  let row = first;
  for (let attempt = 1; ; attempt++) {
    if (!row.exists) return finish({ outcome: Outcome.skipped, reason: Reason.rowDeleted, detail: 'the row no longer exists' });
    const text = row.value;
    if (text === undefined || text.trim() === '') return finish({ outcome: Outcome.skipped, reason: Reason.empty });
    const refs = findReferences(text, settings);
    if (refs.length === 0) {
      // A row an earlier pass of this record rewrote whole has nothing left: it stays migrated.
      if (earlier.length > 0) return finish({ outcome: Outcome.migrated, reason: Reason.reused, detail: summary(earlier), refs: rec.refs });
      return finish({ outcome: Outcome.skipped, reason: Reason.noReferences, detail: `no URL under ${settings.mediaUrl} in the text` });
    }
    // The text before we changed anything is what rollback restores: a row an earlier pass of this
    // same record rewrote in part still holds that pass's text, and the original is in the ledger.
    const original = rec.newValue !== undefined && rec.oldValue !== undefined && text === rec.newValue ? rec.oldValue : text;

    const states = await resolveFiles(task, h, refs);
    if (batch.dryRun) return finishDryRun(finish, refs, states, original);
    await h.ledger.records.noteAttempt(rec.id, { refs: JSON.stringify(merge(earlier, [...states.values()].map((s) => s.state))) });

    const assets = await uploadAll(h, batch, states);
    for (const [name, a] of assets) {
      const s = states.get(name)!;
      s.state = { ...s.state, state: 'rewritten', resourceType: a.resourceType, publicId: a.publicId, url: a.url, etag: s.file!.md5 };
    }
    const rewritten = rewriteReferences(text, refs, (r) => (r.unsafe ? undefined : assets.get(r.name)?.url));
    const all = merge(earlier, [...states.values()].map((s) => s.state));
    const verdict = outcomeOf(all, refs);
    if (verdict.outcome === Outcome.migrated && ![...assets.values()].some((a) => a.uploaded)) verdict.reason = Reason.reused;

    if (rewritten.rewritten === 0) {
      // The text as read stays in the ledger even unchanged: `find` matches a path inside it.
      return finish({ ...verdict, oldValue: original, refs: JSON.stringify(all) });
    }
    const max = source.maxLength;
    if (max !== undefined && [...rewritten.text].length > max) {
      return finish({
        outcome: Outcome.failed,
        reason: Reason.tooLong,
        detail: `the rewritten text is ${[...rewritten.text].length} characters; column ${source.column} holds ${max}: left as it was`,
        refs: JSON.stringify(all),
      });
    }
    try {
      return await h.db.transaction(async (trx) => {
        const f: Finish = { ...verdict, oldValue: original, newValue: rewritten.text, refs: JSON.stringify(all) };
        const claimed = await h.ledger.records.finish(trx, rec.id, { tagged: null, ...f });
        if (!claimed) return resultOf(await h.ledger.records.get(ref, trx));
        // Byte for byte: MySQL's collations ignore case and trailing spaces.
        const changed = await whereTextIs(trx, trx(source.table).where(source.pk, ref.pk), source.column, text).update({ [source.column]: rewritten.text });
        if (changed === 0) throw new RowChanged();
        return { outcome: f.outcome, reason: f.reason, detail: f.detail };
      });
    } catch (err) {
      if (!(err instanceof RowChanged)) throw err;
      if (attempt >= REWRITE_TRIES) {
        return finish({ outcome: Outcome.skipped, reason: Reason.changed, detail: `the text changed ${attempt} times while its files were uploading; left as the app wrote it` });
      }
      h.logger.info({ attempt }, 'the text changed while its files were uploading; reading it again');
      row = (await readRecord(h, ref, source)).row;
    }
  }
}

interface FileState {
  state: TextRefState;
  file: MediaFile | undefined;
}

/** Each distinct file the text names, checked and hashed as a file column's would be (its type by content). */
async function resolveFiles(task: RecordTask, h: RecordHelpers, refs: readonly TextReference[]): Promise<Map<string, FileState>> {
  const out = new Map<string, FileState>();
  for (const r of refs) {
    if (r.unsafe) {
      out.set(`unsafe:${r.written}`, { state: { name: r.written, state: 'unsafe', count: 1, reason: Reason.unsafePath, detail: r.unsafe }, file: undefined });
    }
  }
  for (const name of referencedNames(refs)) {
    const count = refs.filter((r) => !r.unsafe && r.name === name).length;
    try {
      const file = await readMediaFile(h.mediaRoot, name, h.limits, 'auto');
      out.set(name, file ? { state: { name, state: 'rewritten', count }, file } : { state: { name, state: 'missing', count, reason: Reason.notFound }, file: undefined });
    } catch (err) {
      if (!(err instanceof PermanentError)) throw err;
      out.set(name, { state: { name, state: 'failed', count, reason: err.reason, detail: err.message }, file: undefined });
    }
  }
  return out;
}

/**
 * The asset of each file found, all of the record's files at once: each upload still waits for one of
 * the shared upload slots, so `--concurrency N` stays N uploads in flight, but a record with three
 * files no longer holds its job through three uploads one after another. With a quarter more jobs
 * than slots, that left slots idle whenever most jobs were between two uploads (bench scenario T,
 * 4,000 posts of three files at 250 ms an upload, alternating runs: 25.6-30.7 of 32 slots busy on
 * average one after another, 29.8-31.9 side by side). A file refused for good is marked failed; any
 * other error is thrown once every upload of the record has ended, so a retry of the job never races
 * an upload of its own still running.
 */
async function uploadAll(h: RecordHelpers, batch: RecordTask['batch'], states: Map<string, FileState>): Promise<Map<string, ReferencedAsset>> {
  const found = [...states].filter(([, s]) => s.file !== undefined);
  const settled = await Promise.allSettled(found.map(([, s]) => assetFor(h, batch, s.file!)));
  const retry = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected' && !(r.reason instanceof PermanentError));
  if (retry) throw retry.reason;
  const assets = new Map<string, ReferencedAsset>();
  settled.forEach((r, i) => {
    const [name, s] = found[i]!;
    if (r.status === 'fulfilled') {
      assets.set(name, r.value);
      return;
    }
    const err = r.reason as PermanentError;
    s.state = { name, state: 'failed', count: s.state.count, reason: err.reason, detail: err.message };
    s.file = undefined;
  });
  return assets;
}

/** The latest pass's states over the earlier ones: a file rewritten before stays rewritten. */
function merge(earlier: readonly TextRefState[], now: readonly TextRefState[]): TextRefState[] {
  const by = new Map(earlier.map((e) => [e.name, e]));
  for (const n of now) by.set(n.name, n);
  return [...by.values()];
}

function outcomeOf(states: readonly TextRefState[], refs: readonly TextReference[]): Pick<Finish, 'outcome' | 'reason' | 'detail'> {
  const unsafe = states.filter((s) => s.state === 'unsafe');
  const failed = states.filter((s) => s.state === 'failed');
  const missing = states.filter((s) => s.state === 'missing');
  const rewrittenNow = refs.length - unsafe.length - [...failed, ...missing].reduce((a, s) => a + s.count, 0);
  const said = summary(states, rewrittenNow);
  if (unsafe.length > 0) return { outcome: Outcome.failed, reason: Reason.unsafePath, detail: `${said}; ${unsafe.map((u) => u.detail).join('; ')}` };
  if (failed.length > 0) return { outcome: Outcome.failed, reason: failed[0]!.reason as Reason, detail: `${said}; ${failed.map((f) => f.detail).join('; ')}` };
  if (missing.length > 0) {
    const names = missing.slice(0, 5).map((m) => m.name).join(', ');
    return { outcome: Outcome.missing, reason: Reason.notFound, detail: `${said}; not under MEDIA_ROOT: ${names}${missing.length > 5 ? `, and ${missing.length - 5} more` : ''}` };
  }
  return { outcome: Outcome.migrated, reason: Reason.uploaded, detail: said };
}

function summary(states: readonly TextRefState[], rewrittenNow?: number): string {
  const files = states.filter((s) => s.state === 'rewritten');
  const refs = rewrittenNow ?? files.reduce((a, s) => a + s.count, 0);
  return `rewrote ${refs} reference${refs === 1 ? '' : 's'} to ${files.length} file${files.length === 1 ? '' : 's'}`;
}

/** A dry run says which rows would change and how many references, and uploads nothing. */
function finishDryRun(
  finish: (f: Finish) => Promise<RecordResult>,
  refs: readonly TextReference[],
  states: Map<string, FileState>,
  original: string,
): Promise<RecordResult> {
  const list = [...states.values()].map((s) => s.state);
  const v = outcomeOf(list, refs);
  const would = v.outcome === Outcome.migrated ? { outcome: Outcome.migrated, reason: Reason.wouldMigrate } : { outcome: v.outcome, reason: v.reason as Reason };
  return finish({ ...would, detail: (v.detail ?? '').replace(/^rewrote/, 'would rewrite'), oldValue: original, refs: JSON.stringify(list) });
}
