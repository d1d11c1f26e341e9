import type { Logger } from 'pino';
import { errorMessage } from '../errors.ts';
import type { ResourceType } from '../config/sources.ts';
import { sourceType, type Batch, type Ledger, type LedgerRecord } from '../ledger/ledger.ts';
import { Reason } from '../outcomes.ts';
import type { Uploader } from './uploader.ts';

/**
 * django-cloudinary-storage's `deleteorphanedmedia` deletes every asset tagged MEDIA_TAG whose
 * public_id no FileField holds verbatim. So an asset gets MEDIA_TAG only once its row holds its id:
 * before that, the command cannot see it at any moment (a staged asset serves a row that still holds
 * `products/shoe.jpg`; an upload waits for its row write). The ledger marks each such record
 * `tagged = false` in the row's transaction; this tags them in calls of up to 1,000 (Upload API, no
 * hourly limit) and marks them done. Whatever a crash leaves untagged, `sweep` finds in the ledger.
 */
export interface MediaTagger {
  /** Queues the asset of a record whose row now holds its id. */
  add(recordId: number, publicId: string, tag: string, resourceType?: ResourceType): void;
  /** Tags everything queued so far. */
  flush(): Promise<void>;
  /** Tags what the ledger says still needs it (of one batch, or finished before `before`). */
  sweep(opts?: { batchId?: number; before?: Date }): Promise<number>;
  close(): Promise<void>;
}

interface Pending {
  recordId: number;
  publicId: string;
  tag: string;
  resourceType: ResourceType;
}

export interface MediaTaggerDeps {
  ledger: Ledger;
  uploader: Uploader;
  logger: Logger;
  /** How long an asset may wait for its tag when fewer than 1,000 are queued. */
  flushMs?: number;
}

const PER_CALL = 1_000;
/** Beyond this many queued, the rest waits for the ledger sweep instead of memory. */
const MAX_QUEUED = 20_000;

export function createMediaTagger(deps: MediaTaggerDeps): MediaTagger {
  const queued: Pending[] = [];
  let running: Promise<void> = Promise.resolve();
  let inFlight = 0;
  // The timed call waits for the one before it: a slow Cloudinary does not get a new call every tick.
  const timer = setInterval(() => {
    if (inFlight === 0) void flush();
  }, deps.flushMs ?? 500);
  timer.unref();
  const batchesById = new Map<number, Promise<Batch | undefined>>();

  const tagGroup = async (tag: string, resourceType: ResourceType, items: Pending[]): Promise<void> => {
    const ids = [...new Set(items.map((p) => p.publicId))];
    await deps.uploader.addTag(tag, ids, resourceType);
    const recordIds = items.map((p) => p.recordId);
    await deps.ledger.tagging.markTagged(recordIds);
    // A rollback that ran meanwhile restored the old value, which its in-place asset serves: that
    // asset must not keep the tag (the rollback removes it too; whichever runs last wins the race).
    const undone = (await deps.ledger.tagging.rolledBackAmong(recordIds)).filter((r) => r.reason === Reason.inPlace && r.publicId);
    const untag: string[] = [];
    for (const r of undone) if (!(await deps.ledger.cutover.isRewrittenTo(r.publicId!))) untag.push(r.publicId!);
    if (untag.length > 0) await deps.uploader.removeTag(tag, untag, resourceType);
  };

  const drain = async (): Promise<void> => {
    while (queued.length > 0) {
      const batch = queued.splice(0, PER_CALL);
      // A tag call names one resource type: each type is its own namespace of ids.
      const byTag = new Map<string, Pending[]>();
      for (const p of batch) {
        const key = `${p.resourceType}:${p.tag}`;
        const list = byTag.get(key);
        if (list) list.push(p);
        else byTag.set(key, [p]);
      }
      for (const items of byTag.values()) {
        const { tag, resourceType } = items[0]!;
        try {
          await tagGroup(tag, resourceType, items);
        } catch (err) {
          // Safe to leave for later: an untagged asset is invisible to deleteorphanedmedia.
          deps.logger.warn({ tag, assets: items.length, error: errorMessage(err) }, 'could not give assets MEDIA_TAG yet; will retry');
          if (queued.length < MAX_QUEUED) queued.push(...items);
          return;
        }
      }
    }
  };

  // Each flush tags what is queued now, beside any call still in flight: the last records of a run
  // do not wait behind the previous call's round trip. A drain that fails stops (its items stay
  // queued), so calls in flight at once stay as few as the flushes that started them.
  const flush = (): Promise<void> => {
    inFlight++;
    const now = drain().finally(() => inFlight--);
    running = Promise.all([running, now]).then(() => {});
    return running;
  };

  const batchOf = (batchId: number) => {
    let b = batchesById.get(batchId);
    if (!b) {
      b = deps.ledger.batches.get(batchId);
      batchesById.set(batchId, b);
    }
    return b;
  };

  return {
    add(recordId, publicId, tag, resourceType = 'image') {
      if (queued.length >= MAX_QUEUED) return;
      queued.push({ recordId, publicId, tag, resourceType });
      if (queued.length >= PER_CALL) void flush();
    },
    flush,
    async sweep(opts = {}) {
      await flush();
      let done = 0;
      let lastId = 0;
      for (;;) {
        const page: LedgerRecord[] = (await deps.ledger.tagging.untagged(PER_CALL, opts)).filter((r) => r.id > lastId);
        if (page.length === 0) return done;
        lastId = page[page.length - 1]!.id;
        for (const r of page) {
          const batch = await batchOf(r.batchId);
          if (batch && r.publicId) queued.push({ recordId: r.id, publicId: r.publicId, tag: batch.tag, resourceType: sourceType(batch, r) });
        }
        const before = queued.length;
        await flush();
        // Whatever could not be tagged stays queued: stop rather than loop on a failing service.
        if (queued.length > 0) return done + (before - queued.length);
        done += before;
      }
    },
    async close() {
      clearInterval(timer);
      await flush();
    },
  };
}
