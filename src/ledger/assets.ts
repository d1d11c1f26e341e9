import type { Knex } from 'knex';
import type { ResourceType } from '../config/sources.ts';
import { Outcome, Reason } from '../outcomes.ts';
import { ASSETS, BATCHES, RECORDS } from './migrations.ts';
import type { Row } from './rows.ts';

/** An asset we know serves a file's bytes, with the URL a text reference is rewritten to. */
export interface KnownAsset {
  resourceType: ResourceType;
  publicId: string;
  etag: string;
  bytes: number;
  format: string;
  /** The https delivery URL Cloudinary answered (`secure_url`); undefined when only a file column placed it. */
  secureUrl: string | undefined;
}

/**
 * The assets that text references point at. A file referenced from many rows and columns is uploaded
 * once: before uploading, a text record asks here whether that exact asset (same public_id, same MD5)
 * is already there, placed by a text record or by a file column's upload.
 */
export class TextAssets {
  constructor(readonly db: Knex) {}

  async find(resourceType: ResourceType, publicId: string, etag: string): Promise<KnownAsset | undefined> {
    const r = (await this.db(ASSETS).where({ resource_type: resourceType, public_id: publicId, etag }).first()) as Row | undefined;
    if (r) {
      return { resourceType, publicId, etag, bytes: Number(r.bytes), format: String(r.format ?? ''), secureUrl: String(r.secure_url) };
    }
    // A file column uploaded it (and a row holds it): the same asset, whatever its source. The batch
    // is a NOT EXISTS, not a join: joined, PostgreSQL may reach the records through the batch and
    // outcome index instead of public_id (its statistics taken while the batch was all pending), and
    // read every record the batch has migrated so far: a look-up per file as long as the batch (bench
    // scenario T, 100,000 posts: 1.2 s each by 45,000 records, the batch at a third of its speed).
    const f = (await this.db(`${RECORDS} as r`)
      .where({ 'r.public_id': publicId, 'r.etag': etag, 'r.outcome': Outcome.migrated })
      .whereIn('r.reason', [Reason.uploaded, Reason.reused])
      .whereNull('r.rolled_back_at')
      .whereNotExists((dry) => dry.select(1).from(`${BATCHES} as b`).whereRaw('?? = ??', ['b.id', 'r.batch_id']).where('b.dry_run', true))
      .first('r.bytes')) as Row | undefined;
    return f ? { resourceType, publicId, etag, bytes: Number(f.bytes), format: '', secureUrl: undefined } : undefined;
  }

  /** Notes an uploaded asset (again is a no-op: the first answer stands). */
  async add(batchId: number, a: KnownAsset & { secureUrl: string }): Promise<void> {
    await this.db(ASSETS)
      .insert({ resource_type: a.resourceType, public_id: a.publicId, etag: a.etag, bytes: a.bytes, format: a.format, secure_url: a.secureUrl, batch_id: batchId })
      .onConflict(['resource_type', 'public_id'])
      .ignore();
  }
}
