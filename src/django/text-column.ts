import type { Knex } from 'knex';
import { NameSet } from '../media/name-set.ts';
import type { Source } from '../config/sources.ts';
import { scanRows } from '../db/scan-rows.ts';
import { isUnderMediaRoot } from '../media/media-file.ts';
import { findReferences, referencedNames } from '../text/references.ts';

/**
 * A text column with media URLs inside (a rich-text editor's HTML, Markdown or JSON): how many rows
 * reference files, how many references, how many distinct files and how many of those are on disk.
 * Read in full, a page at a time, once a sample showed any reference.
 */
export interface TextColumnFindings {
  rowsWithReferences: number;
  references: number;
  files: number;
  filesFound: number;
}

export type ReferenceSettings = { mediaUrl: string; mediaOrigins: string[] };

export function sampleHasReferences(values: readonly string[], settings: ReferenceSettings): boolean {
  return values.some((v) => v.includes(settings.mediaUrl) && findReferences(v, settings).length > 0);
}

export async function scanTextColumn(db: Knex, source: Source, settings: ReferenceSettings, mediaRoot: string | undefined): Promise<TextColumnFindings> {
  const seen = new NameSet();
  const out: TextColumnFindings = { rowsWithReferences: 0, references: 0, files: 0, filesFound: 0 };
  for await (const page of scanRows(db, source, 500, true)) {
    for (const r of page) {
      if (!r.value || !r.value.includes(settings.mediaUrl)) continue;
      const refs = findReferences(r.value, settings);
      if (refs.length === 0) continue;
      out.rowsWithReferences++;
      out.references += refs.length;
      for (const name of referencedNames(refs)) {
        if (seen.has(name)) continue;
        seen.add(name);
        out.files++;
        if (mediaRoot && (await isUnderMediaRoot(mediaRoot, name))) out.filesFound++;
      }
    }
  }
  return out;
}
