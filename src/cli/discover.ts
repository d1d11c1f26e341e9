import { discoverSources, type ColumnReport } from '../django/discover.ts';
import { loadConfig } from '../config/config.ts';
import { openDatabase } from '../pipeline/services.ts';
import { println, type CommandIO } from './io.ts';
import { setup } from './setup.ts';

export interface DiscoverOptions {
  sample: number;
  json?: boolean | undefined;
}

/**
 * `media-migrate discover`: prints a sources file for this database on stdout (ready for
 * `--sources`), with what was found per column under "discovered"; a summary goes to stderr.
 */
export async function discoverCommand(opts: DiscoverOptions, io: CommandIO): Promise<number> {
  const { config, logger, res } = setup(io, ['database']);
  // MEDIA_ROOT is optional here: without it, files are simply not looked for.
  let mediaRoot: string | undefined;
  if (io.env.MEDIA_ROOT) mediaRoot = loadConfig(io.env, ['mediaRoot'], io.cwd).mediaRoot;
  try {
    const { db } = await openDatabase(config.database, res, logger);
    const d = await discoverSources(db, { mediaRoot, sample: opts.sample, references: { mediaUrl: config.storage.mediaUrl, mediaOrigins: config.storage.mediaOrigins } });
    println(io.stdout, JSON.stringify(d, null, 2));
    if (!opts.json) {
      println(io.stderr, `Proposed ${d.sources.length} sources out of ${d.discovered.length} text columns${mediaRoot ? '' : ' (MEDIA_ROOT not set: files not checked)'}:`);
      for (const c of d.discovered.filter((x) => x.proposed || x.imagePaths > 0)) println(io.stderr, `  ${c.proposed ? '✔' : ' '} ${describe(c)}`);
      for (const c of d.discovered.filter((x) => x.proposed && (x.notServed?.length ?? 0) > 0)) {
        const mix = Object.entries(c.types ?? {}).map(([t, n]) => `${n} ${t}`).join(', ');
        println(
          io.stderr,
          `  ! ${c.table}.${c.column} mixes types (${mix} sampled): its storage serves one type (${c.resourceType}); these would not be served: ${c.notServed!.join(', ')}`,
        );
      }
      println(io.stderr, 'Save it and check it: media-migrate discover > sources.json && media-migrate migrate --sources sources.json --dry-run');
    }
    return 0;
  } finally {
    await res.close();
  }
}

function describe(c: ColumnReport): string {
  const head = `${c.table}.${c.column}: ${c.rows} rows, ${c.empty} empty`;
  if (c.kind === 'text' && c.text) {
    return `${head}, text with media URLs: ${c.text.rowsWithReferences} rows reference ${c.text.files} files (${c.text.references} references), ${c.text.filesFound} files found → "kind": "text"`;
  }
  if (c.resourceType && c.resourceType !== 'image') {
    return `${head}, ${c.filePaths ?? 0}/${c.sampled} sampled look like files, ${c.filesFound} files found → "resourceType": "${c.resourceType}"`;
  }
  return `${head}, ${c.imagePaths}/${c.sampled} sampled look like images, ${c.filesFound} files found`;
}
