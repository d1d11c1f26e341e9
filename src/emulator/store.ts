import { createHash } from 'node:crypto';
import { unixSeconds } from './clock.ts';
import { randomHex } from './public-id.ts';
import type { EmulatorAsset } from './types.ts';

/** What the store keeps beyond the public shape: creation order for listings and cursors. */
export interface StoredAsset extends EmulatorAsset {
  seq: number;
  assetFolder: string;
}

export interface NewAsset {
  publicId: string;
  resourceType: string;
  format: string;
  width: number;
  height: number;
  tags: string[];
  data: Buffer;
  assetFolder: string;
}

/**
 * Assets per resource type (image, raw and video public_ids are separate namespaces in
 * Cloudinary), all of delivery type "upload".
 */
export class AssetStore {
  private readonly byType = new Map<string, Map<string, StoredAsset>>([['image', new Map()]]);
  private lastVersion = 0;
  private seq = 0;

  /** The image map itself, so `emulator.assets` stays a live view across resets. */
  get images(): ReadonlyMap<string, StoredAsset> {
    return this.of('image');
  }

  private of(resourceType: string): Map<string, StoredAsset> {
    let m = this.byType.get(resourceType);
    if (!m) {
      m = new Map();
      this.byType.set(resourceType, m);
    }
    return m;
  }

  get(resourceType: string, publicId: string): StoredAsset | undefined {
    return this.byType.get(resourceType)?.get(publicId);
  }

  /**
   * Versions are unix seconds but strictly increasing, as a client comparing versions of a
   * re-upload within the same second would otherwise see no change.
   */
  private nextVersion(): number {
    this.lastVersion = Math.max(unixSeconds(), this.lastVersion + 1);
    return this.lastVersion;
  }

  /** Creates or replaces; a replacement keeps asset_id like Cloudinary does. */
  put(a: NewAsset): { asset: StoredAsset; replaced: boolean } {
    const map = this.of(a.resourceType);
    const previous = map.get(a.publicId);
    const asset: StoredAsset = {
      publicId: a.publicId,
      version: this.nextVersion(),
      format: a.format,
      bytes: a.data.length,
      etag: createHash('md5').update(a.data).digest('hex'),
      width: a.width,
      height: a.height,
      tags: a.tags,
      createdAt: new Date(),
      data: a.data,
      resourceType: a.resourceType,
      assetId: previous?.assetId ?? randomHex(16),
      seq: ++this.seq,
      assetFolder: a.assetFolder,
    };
    map.set(a.publicId, asset);
    return { asset, replaced: previous !== undefined };
  }

  delete(resourceType: string, publicId: string): boolean {
    return this.byType.get(resourceType)?.delete(publicId) ?? false;
  }

  list(resourceType: string): StoredAsset[] {
    return [...(this.byType.get(resourceType)?.values() ?? [])];
  }

  clear(): void {
    for (const m of this.byType.values()) m.clear();
  }
}
