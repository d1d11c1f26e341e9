import { open } from 'node:fs/promises';
import { posix } from 'node:path';
import { isRemoteUrl } from '../cloudinary/storage-convention.ts';
import type { ResourceType } from '../config/sources.ts';
import { resourceTypeForExtension } from '../media/kind.ts';
import { readHead, resolveInside, typeOfContent } from '../media/media-file.ts';

/**
 * What a FileField column holds, judged from a sample of its values: relative file paths, and of which
 * resource type — by the file's content when MEDIA_ROOT has it, else by its extension. Django's storage
 * for a field serves one type, so a column mixing images and PDFs has values its storage would not serve.
 */

const IMAGE_PATH = /^(?![\\/])(?!.*(^|\/)\.\.(\/|$)).+\.(jpe?g|png|gif|webp|bmp|tiff?|ico|svg|avif|heic|heif)$/i;
/** A relative path with an extension, on one line: what a FileField stores. */
const FILE_PATH = /^(?![\\/])(?!.*(^|\/)\.\.(\/|$))[^\r\n<>"]+\.[A-Za-z0-9]{1,8}$/;

export function looksLikeImagePath(value: string): boolean {
  return value.length <= 1_000 && !isRemoteUrl(value) && IMAGE_PATH.test(value.replace(/\\/g, '/'));
}

export function looksLikeFilePath(value: string): boolean {
  return value.length <= 255 && !isRemoteUrl(value) && !/\s$|^\s/.test(value) && FILE_PATH.test(value.replace(/\\/g, '/'));
}

/** The type a storage class must have to serve this file, by its name: PDFs are raw for Django (RawMediaCloudinaryStorage). */
export function typeByName(value: string): ResourceType {
  if (looksLikeImagePath(value)) return 'image';
  return resourceTypeForExtension(posix.extname(value)) === 'video' ? 'video' : 'raw';
}

export interface FileColumnFindings {
  filePaths: number;
  imagePaths: number;
  filesFound: number;
  /** Sampled paths of each resource type. */
  types: Partial<Record<ResourceType, number>>;
  resourceType: ResourceType;
  /** Sampled values the proposed type's storage would not serve (another type's files), a few. */
  notServed: string[];
}

export async function inspectFilePaths(values: readonly string[], mediaRoot: string | undefined): Promise<FileColumnFindings> {
  const paths = values.filter(looksLikeFilePath);
  const types: Partial<Record<ResourceType, number>> = {};
  const typed: [string, ResourceType][] = [];
  let filesFound = 0;
  for (const v of paths) {
    let type = typeByName(v);
    if (mediaRoot) {
      const head = await headOf(mediaRoot, v);
      if (head) {
        filesFound++;
        const byContent = typeOfContent(head);
        // Content says image or video for sure; anything else stays what its name says (raw).
        if (byContent !== 'raw') type = byContent;
        else if (type !== 'raw') type = 'raw';
      }
    }
    types[type] = (types[type] ?? 0) + 1;
    typed.push([v, type]);
  }
  const resourceType = (Object.entries(types).sort((a, b) => b[1] - a[1])[0]?.[0] ?? 'image') as ResourceType;
  return {
    filePaths: paths.length,
    imagePaths: paths.filter(looksLikeImagePath).length,
    filesFound,
    types,
    resourceType,
    notServed: typed.filter(([, t]) => t !== resourceType).slice(0, 5).map(([v]) => v),
  };
}

async function headOf(mediaRoot: string, value: string): Promise<Buffer | undefined> {
  let path: string | undefined;
  try {
    path = await resolveInside(mediaRoot, value);
  } catch {
    return undefined; // an unsafe path is not a found file
  }
  if (!path) return undefined;
  const fh = await open(path, 'r');
  try {
    return await readHead(fh);
  } catch {
    return undefined; // a folder, or unreadable: not a file we could move
  } finally {
    await fh.close();
  }
}
