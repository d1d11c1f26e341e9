import { ByteList } from './bytes.ts';
import { ApiError } from './reply.ts';

export interface ContentRange {
  start: number;
  end: number;
  /** Undefined when the client does not know it yet (the SDK sends `-1` on all but the last chunk). */
  total: number | undefined;
}

export function parseContentRange(header: string): ContentRange {
  const m = /^bytes\s+(\d+)-(\d+)\/(-1|\d+)$/i.exec(header.trim());
  if (!m) throw new ApiError(400, `Invalid Content-Range header: ${header}`);
  const start = Number(m[1]);
  const end = Number(m[2]);
  const total = m[3] === '-1' ? undefined : Number(m[3]);
  if (end < start || (total !== undefined && end >= total)) {
    throw new ApiError(400, `Invalid Content-Range header: ${header}`);
  }
  return { start, end, total };
}

interface Assembly {
  parts: Map<number, ByteList>;
  received: number;
  touched: number;
}

export type ChunkOutcome = { done: false; received: number } | { done: true; data: ByteList };

/**
 * Reassembles `upload_large`: chunks share an X-Unique-Upload-Id, say where they belong with
 * Content-Range, and the chunk reaching the end of the file completes the upload. Chunks are
 * keyed by offset, so parallel or retried chunks are fine as long as the last one comes last
 * (Cloudinary's own rule).
 */
export class ChunkAssembler {
  private readonly uploads = new Map<string, Assembly>();

  constructor(
    private readonly minChunkBytes: number,
    private readonly maxTotalBytes: number,
    private readonly idleMs = 3_600_000,
  ) {}

  accept(uploadId: string, range: ContentRange, chunk: ByteList, chunkBytes: number): ChunkOutcome {
    this.sweep();
    if (chunkBytes !== range.end - range.start + 1) {
      throw new ApiError(
        400,
        `Content-Range bytes ${range.start}-${range.end} does not match the chunk size ${chunkBytes}`,
      );
    }
    const last = range.total !== undefined && range.end === range.total - 1;
    if (!last && chunkBytes < this.minChunkBytes) {
      throw new ApiError(
        400,
        `Chunk size ${chunkBytes} is too small - every chunk but the last must be at least ${this.minChunkBytes} bytes`,
      );
    }
    let a = this.uploads.get(uploadId);
    if (!a) {
      a = { parts: new Map(), received: 0, touched: Date.now() };
      this.uploads.set(uploadId, a);
    }
    a.touched = Date.now();
    const previous = a.parts.get(range.start);
    a.received += chunkBytes - (previous?.length ?? 0);
    a.parts.set(range.start, chunk);
    const limit = Math.max(a.received, range.total ?? 0);
    if (limit > this.maxTotalBytes) {
      this.uploads.delete(uploadId);
      throw new ApiError(400, `File size too large. Got ${limit}. Maximum is ${this.maxTotalBytes}.`);
    }
    if (!last) return { done: false, received: a.received };

    const total = range.total as number;
    const ordered = [...a.parts.entries()].sort((x, y) => x[0] - y[0]);
    let offset = 0;
    for (const [start, buf] of ordered) {
      if (start !== offset) break;
      offset += buf.length;
    }
    if (offset !== total) {
      throw new ApiError(400, `Upload incomplete - received ${a.received} of ${total} bytes for upload ${uploadId}`);
    }
    this.uploads.delete(uploadId);
    return { done: true, data: ByteList.join(ordered.map(([, part]) => part)) };
  }

  /** Abandoned uploads would otherwise hold their chunks forever in a long-running emulator. */
  private sweep(): void {
    const cutoff = Date.now() - this.idleMs;
    for (const [id, a] of this.uploads) if (a.touched < cutoff) this.uploads.delete(id);
  }

  get pending(): number {
    return this.uploads.size;
  }

  clear(): void {
    this.uploads.clear();
  }
}
