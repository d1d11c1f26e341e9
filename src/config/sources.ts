import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { ConfigError } from '../errors.ts';

/**
 * Which of django-cloudinary-storage's classes serves a file column: MediaCloudinaryStorage (`image`),
 * RawMediaCloudinaryStorage (`raw`: PDFs, any file) or VideoMediaCloudinaryStorage (`video`, audio too).
 */
export type ResourceType = 'image' | 'video' | 'raw';
export const RESOURCE_TYPES: readonly ResourceType[] = ['image', 'raw', 'video'];

/** `file`: every value is a path under MEDIA_ROOT (a FileField); `text`: HTML, Markdown or JSON with media URLs inside. */
export type SourceKind = 'file' | 'text';

/**
 * One column of one table that references media. The defaults (`image`, `file`) are left out rather
 * than written, so a sources list reads, and is recorded by a batch, as it was before these keys existed.
 */
export interface Source {
  table: string;
  column: string;
  pk: string;
  resourceType?: ResourceType | undefined;
  kind?: SourceKind | undefined;
}

export function resourceTypeOf(source: Pick<Source, 'resourceType'>): ResourceType {
  return source.resourceType ?? 'image';
}

export function isTextSource(source: Pick<Source, 'kind'>): boolean {
  return source.kind === 'text';
}

/** A source checked against the live schema: what we need to write into it safely. */
export interface CheckedSource extends Source {
  /** The column's declared length: a value longer than this would not fit (Django: varchar(100)). */
  maxLength: number | undefined;
  nullable: boolean;
  /**
   * A text source's notion of "our" URLs (MEDIA_URL's path, MEDIA_ORIGINS), recorded with the batch
   * so every worker, on any machine, reads the text the same way.
   */
  references?: { mediaUrl: string; mediaOrigins: string[] } | undefined;
}

const sourceSchema = z
  .object({
    table: z.string().min(1),
    column: z.string().min(1),
    pk: z.string().min(1).default('id'),
    resourceType: z.enum(['image', 'raw', 'video']).optional(),
    kind: z.enum(['file', 'text']).optional(),
  })
  .strict()
  .refine((s) => !(s.kind === 'text' && s.resourceType !== undefined), {
    message: 'a "text" source takes no resourceType: each referenced file gets the type its content has',
  })
  .transform(({ resourceType, kind, ...s }) => ({
    ...s,
    ...(resourceType && resourceType !== 'image' ? { resourceType } : {}),
    ...(kind === 'text' ? { kind } : {}),
  }));

// `discovered` is what `media-migrate discover` adds beside the sources it proposes: ignored here.
const sourcesFileSchema = z.object({ sources: z.array(sourceSchema).min(1), discovered: z.unknown().optional() }).strict();

/** The three models of the original shop app, each with an `image` ImageField. */
export function defaultSources(appLabel: string): Source[] {
  return ['productimages', 'bannerimage', 'subcategory'].map((model) => ({
    table: `${appLabel}_${model}`,
    column: 'image',
    pk: 'id',
  }));
}

export function parseSources(json: unknown, origin: string): Source[] {
  const r = sourcesFileSchema.safeParse(json);
  if (!r.success) {
    throw new ConfigError(
      r.error.issues.map((i) => `${origin}: ${i.path.length ? i.path.join('.') + ': ' : ''}${i.message}`),
    );
  }
  const seen = new Set<string>();
  const problems: string[] = [];
  for (const s of r.data.sources) {
    const key = `${s.table}.${s.column}`;
    if (seen.has(key)) problems.push(`${origin}: ${key} is listed twice`);
    seen.add(key);
  }
  if (problems.length) throw new ConfigError(problems);
  return r.data.sources;
}

export async function loadSourcesFile(path: string): Promise<Source[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new ConfigError([`--sources ${path}: cannot read the file`]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new ConfigError([`--sources ${path}: not valid JSON (${(err as Error).message})`]);
  }
  return parseSources(json, `--sources ${path}`);
}
