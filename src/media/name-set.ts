import { createHash } from 'node:crypto';

/**
 * A set of file names in bounded memory: each name kept as 52 bits of its SHA-1 in an open-addressed
 * Float64Array (8 bytes a name, against ~100 for a JS string in a Set), so a million referenced
 * names cost ~16 MB. Two names sharing 52 bits (odds ~1e-4 at a million) would only make one
 * unreferenced file look referenced: the audit errs on the side of keeping a file.
 */
export class NameSet {
  private table = new Float64Array(1 << 12);
  private count = 0;

  get size(): number {
    return this.count;
  }

  add(name: string): void {
    if (this.count * 2 >= this.table.length) this.grow();
    if (this.put(this.table, keyOf(name))) this.count++;
  }

  has(name: string): boolean {
    const key = keyOf(name);
    const mask = this.table.length - 1;
    for (let i = key % this.table.length; ; i = (i + 1) & mask) {
      const v = this.table[i]!;
      if (v === 0) return false;
      if (v === key) return true;
    }
  }

  /** True when the key was not there yet. */
  private put(table: Float64Array, key: number): boolean {
    const mask = table.length - 1;
    for (let i = key % table.length; ; i = (i + 1) & mask) {
      const v = table[i]!;
      if (v === key) return false;
      if (v === 0) {
        table[i] = key;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.table;
    this.table = new Float64Array(old.length * 2);
    for (const v of old) if (v !== 0) this.put(this.table, v);
  }
}

/** 52 bits of the name's SHA-1, never 0 (0 marks an empty slot). */
function keyOf(name: string): number {
  const d = createHash('sha1').update(name).digest();
  return (d.readUIntBE(0, 6) * 16 + (d[6]! >> 4)) || 1;
}
