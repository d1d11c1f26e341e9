import type { EmulatorAsset } from '../../src/emulator/server.ts';
import { inPlaceId } from '../../src/cloudinary/in-place-id.ts';
import type { ResourceType } from '../../src/config/sources.ts';

/**
 * django-cloudinary-storage's `deleteorphanedmedia`, its selection rule as its source has it
 * (cloudinary_storage/management/commands/deleteorphanedmedia.py): the candidates are the assets
 * `resources_by_tag(MEDIA_TAG)` lists for each resource type the FileFields use (`resourceTypes`,
 * image unless told: Raw- and VideoMediaCloudinaryStorage fields add theirs); those
 * whose public_id starts with a prefixed EXCLUDE_DELETE_ORPHANED_MEDIA_PATHS entry are spared; every
 * other candidate that no FileField of any row holds verbatim is deleted.
 */
export function orphanedMediaSelection(
  assets: Iterable<EmulatorAsset>,
  opts: {
    tag: string;
    fileFieldValues: Iterable<string | null | undefined>;
    excludePaths?: readonly string[];
    prefix?: string;
    resourceTypes?: readonly string[];
  },
): Set<string> {
  const prefix = opts.prefix ?? 'media/';
  const exclude = (opts.excludePaths ?? []).map((p) => (p.startsWith(prefix) ? p : prefix + p));
  const needful = new Set<string>();
  for (const v of opts.fileFieldValues) if (v) needful.add(v);
  const out = new Set<string>();
  for (const a of assets) {
    if (!(opts.resourceTypes ?? ['image']).includes(a.resourceType) || !a.tags.includes(opts.tag)) continue;
    if (exclude.some((p) => a.publicId.startsWith(p))) continue;
    if (!needful.has(a.publicId)) out.add(a.publicId);
  }
  return out;
}

/**
 * The assets the site needs right now: for each row, the asset its value names once the storage is
 * switched (the value itself when it is a public_id, its in-place id when it is a file path).
 */
export function neededAssets(
  values: Iterable<string | null | undefined>,
  existing: ReadonlyMap<string, unknown>,
  prefix = 'media/',
  resourceType: ResourceType = 'image',
): Set<string> {
  const out = new Set<string>();
  for (const v of values) {
    if (!v) continue;
    out.add(existing.has(v) ? v : inPlaceId(v, prefix, resourceType));
  }
  return out;
}
