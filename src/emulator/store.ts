import type { ResourceType } from '../media/kind.ts';
import type { ByteList } from './bytes.ts';
import { unixSeconds } from './clock.ts';
import { randomHex } from './public-id.ts';
import type { EmulatorAsset } from './types.ts';

/**
 * An asset plus what the store needs beyond the public shape: creation order for listings and
 * cursors. `data` is joined on first read only (see ByteList).
 */
export class StoredAsset implements EmulatorAsset {
  readonly bytes: number;
  readonly etag: string;
  readonly createdAt = new Date();

  constructor(
    readonly publicId: string,
    readonly resourceType: ResourceType,
    readonly version: number,
    readonly assetId: string,
    readonly seq: number,
    readonly format: string,
    readonly width: number,
    readonly height: number,
    readonly tags: string[],
    readonly assetFolder: string,
    readonly content: ByteList,
  ) {
    this.bytes = content.length;
    this.etag = content.md5();
  }

  get data(): Buffer {
    return this.content.buffer;
  }
}

export interface NewAsset {
  publicId: string;
  resourceType: ResourceType;
  format: string;
  width: number;
  height: number;
  tags: string[];
  data: ByteList;
  assetFolder: string;
}

/**
 * Assets per resource type (image, raw and video public_ids are separate namespaces in
 * Cloudinary), all of delivery type "upload".
 */
export class AssetStore {
  private readonly byType = new Map<string, Map<string, StoredAsset>>([
    ['image', new Map()],
    ['video', new Map()],
    ['raw', new Map()],
  ]);
  private lastVersion = 0;
  private seq = 0;

  /** The image map itself, so `emulator.assets` stays a live view across resets. */
  get images(): ReadonlyMap<string, StoredAsset> {
    return this.of('image');
  }

  /** One resource type's map itself: a live view, as `images` is. */
  view(resourceType: ResourceType): ReadonlyMap<string, StoredAsset> {
    return this.of(resourceType);
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
    const asset = new StoredAsset(
      a.publicId,
      a.resourceType,
      this.nextVersion(),
      previous?.assetId ?? randomHex(16),
      ++this.seq,
      a.format,
      a.width,
      a.height,
      a.tags,
      a.assetFolder,
      a.data,
    );
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
