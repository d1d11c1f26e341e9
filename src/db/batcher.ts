/**
 * Self-clocking batching, the scheduling half of group commit: an item that arrives while nothing
 * is being flushed is flushed at once (after the current turn of the event loop, so the items of
 * jobs that got there together go together); the items that arrive during a flush form the next.
 * Nothing ever waits for a batch to fill, so one record alone costs what it always did, and under
 * load a batch grows to what arrived during one flush: the busier, the fewer statements per item.
 */
export class Batcher<I, R> {
  private waiting: { item: I; resolve: (r: R) => void; reject: (err: unknown) => void }[] = [];
  private flushing: Promise<void> | undefined;

  /** `flush` answers each item in order, or fails them all; it runs one batch at a time. */
  constructor(
    private readonly flush: (items: I[]) => Promise<Settled<R>[]>,
    private readonly maxBatch = 64,
  ) {}

  add(item: I): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.waiting.push({ item, resolve, reject });
      if (!this.flushing && this.waiting.length === 1) setImmediate(() => void this.next());
    });
  }

  /** Resolves once everything added so far has been answered. */
  async drain(): Promise<void> {
    while (this.flushing || this.waiting.length > 0) await (this.flushing ?? this.next());
  }

  private next(): Promise<void> {
    if (this.flushing || this.waiting.length === 0) return this.flushing ?? Promise.resolve();
    this.flushing = this.flushBatch(this.waiting.splice(0, this.maxBatch));
    return this.flushing;
  }

  private async flushBatch(batch: { item: I; resolve: (r: R) => void; reject: (err: unknown) => void }[]): Promise<void> {
    try {
      const answers = await this.flush(batch.map((w) => w.item));
      batch.forEach((w, i) => {
        const a = answers[i];
        if (!a) w.reject(new Error('batch answered fewer items than it was given'));
        else if ('error' in a) w.reject(a.error);
        else w.resolve(a.value);
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.flushing = undefined;
      if (this.waiting.length > 0) setImmediate(() => void this.next());
    }
  }
}

export type Settled<R> = { value: R } | { error: unknown };
