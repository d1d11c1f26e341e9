import { createHash } from 'node:crypto';

/**
 * An upload's bytes as the slices the HTTP parser handed us. Concatenating them eagerly costs
 * more than everything else an upload does (a fresh multi-MB buffer page-faults on every page),
 * so the one contiguous copy is made only when someone reads `buffer` (a delivery GET, a test).
 */
export class ByteList {
  private joined: Buffer | undefined;
  private digest: string | undefined;

  constructor(
    private readonly chunks: readonly Buffer[],
    readonly length: number = chunks.reduce((n, c) => n + c.length, 0),
  ) {
    if (chunks.length === 1) this.joined = chunks[0];
  }

  static of(buffer: Buffer): ByteList {
    return new ByteList([buffer], buffer.length);
  }

  /** Joins several lists without copying. */
  static join(lists: readonly ByteList[]): ByteList {
    return new ByteList(lists.flatMap((l) => l.parts()), lists.reduce((n, l) => n + l.length, 0));
  }

  parts(): readonly Buffer[] {
    return this.joined ? [this.joined] : this.chunks;
  }

  get buffer(): Buffer {
    this.joined ??= Buffer.concat(this.chunks as Buffer[], this.length);
    return this.joined;
  }

  /** At least the first `n` bytes (fewer only if the whole list is shorter), copying at most `n`. */
  head(n: number): Buffer {
    if (this.joined) return this.joined.subarray(0, n);
    const first = this.chunks[0];
    if (first && first.length >= n) return first.subarray(0, n);
    const taken: Buffer[] = [];
    let size = 0;
    for (const c of this.chunks) {
      if (size >= n) break;
      taken.push(c);
      size += c.length;
    }
    return Buffer.concat(taken, Math.min(size, n));
  }

  md5(): string {
    if (this.digest === undefined) {
      const hash = createHash('md5');
      for (const c of this.parts()) hash.update(c);
      this.digest = hash.digest('hex');
    }
    return this.digest;
  }
}
