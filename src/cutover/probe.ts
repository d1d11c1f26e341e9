import type { Knex } from 'knex';
import type { Source } from '../config/sources.ts';

/**
 * What a visitor of the site sees during a cutover: every row's image fetched in a loop, through the
 * URL the app would build for the row's current value — Django's file storage before the switch,
 * MediaCloudinaryStorage after it. A fetch is broken when it does not answer the row's own bytes.
 * `demo --cutover` and the tests use it to prove the cutover breaks no image.
 */

export interface ProbeRow {
  table: string;
  pk: string;
}

export interface BrokenFetch extends ProbeRow {
  value: string;
  url: string;
  status: number;
  /** Milliseconds since the switch (negative before it). */
  atMs: number;
}

export interface ProbeReport {
  rounds: number;
  fetches: number;
  broken: BrokenFetch[];
  /** Rows with at least one broken fetch. */
  brokenRows: number;
}

export interface CutoverProbeOptions {
  db: Knex;
  sources: readonly Source[];
  /** The bytes each row's image has, by `table:pk`: only these rows are judged. */
  expected: ReadonlyMap<string, Buffer>;
  /** Django's FileSystemStorage URL for a value (MEDIA_URL + the path). */
  fileUrl(value: string): string;
  /** MediaCloudinaryStorage's URL for a value. */
  storageUrl(value: string): string;
  /** Fetches in flight at once. */
  concurrency?: number;
}

export interface CutoverProbe {
  /** From now on the app builds its URLs with MediaCloudinaryStorage. */
  switchStorage(): void;
  /** Runs one more full round after the last change, then reports. */
  stop(): Promise<ProbeReport>;
}

export const rowKey = (table: string, pk: unknown): string => `${table}:${String(pk)}`;

export function startCutoverProbe(opts: CutoverProbeOptions): CutoverProbe {
  let switchedAt: number | undefined;
  let stopping = false;
  const report: ProbeReport = { rounds: 0, fetches: 0, broken: [], brokenRows: 0 };
  const brokenRows = new Set<string>();

  const check = async (table: string, pk: string, value: string): Promise<void> => {
    const expected = opts.expected.get(rowKey(table, pk));
    if (!expected) return;
    const switched = switchedAt !== undefined;
    let url: string;
    try {
      url = switched ? opts.storageUrl(value) : opts.fileUrl(value);
    } catch {
      url = '(no URL can be built for this value)';
    }
    let status = 0;
    let ok = false;
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      status = res.status;
      const body = Buffer.from(await res.arrayBuffer());
      ok = res.ok && body.equals(expected);
    } catch {
      ok = false;
    }
    report.fetches++;
    if (ok) return;
    brokenRows.add(rowKey(table, pk));
    report.broken.push({ table, pk, value, url, status, atMs: switched ? Date.now() - switchedAt! : -1 });
  };

  const round = async (): Promise<void> => {
    const work: { table: string; pk: string; value: string }[] = [];
    for (const s of opts.sources) {
      const rows = (await opts.db(s.table).select(s.pk, s.column)) as Record<string, unknown>[];
      for (const r of rows) {
        const value = r[s.column];
        if (typeof value === 'string' && value !== '') work.push({ table: s.table, pk: String(r[s.pk]), value });
      }
    }
    let next = 0;
    const lane = async () => {
      while (next < work.length) {
        const w = work[next++]!;
        await check(w.table, w.pk, w.value);
      }
    };
    await Promise.all(Array.from({ length: opts.concurrency ?? 8 }, lane));
    report.rounds++;
  };

  const loop = (async () => {
    while (!stopping) {
      await round();
      // A visitor, not a load test: a breath between rounds leaves the machine to the migration.
      await new Promise((r) => setTimeout(r, 25));
    }
    // One round that starts after the last change the caller made.
    await round();
  })();

  return {
    switchStorage() {
      switchedAt = Date.now();
    },
    async stop() {
      stopping = true;
      await loop;
      report.brokenRows = brokenRows.size;
      return report;
    },
  };
}
