import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { parse } from 'csv-parse';
import { ConfigError } from '../errors.ts';

/**
 * The rows an operator picked, from a file: `report --format csv` output (filtered in a spreadsheet,
 * say: its `table`, `column`, `pk` and `batch` columns are read) or plain `table,pk` lines. What
 * `retry-failed --from FILE` and `migrate --from FILE` run again, exactly those rows.
 */
export interface ListedRecord {
  table: string;
  /** When the file says which column; else every source of the table. */
  column: string | undefined;
  pk: string;
  /** The batch the line came from (a report's `batch` column). */
  batch: number | undefined;
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_$]*$/;

/** Every listed record of the file, in order, a line at a time; one bad line stops it with its number. */
export async function* readRecordList(path: string): AsyncGenerator<ListedRecord> {
  const where = (line: number) => `--from ${path}: line ${line}`;
  let header: string[] | undefined;
  let line = 0;
  let stream;
  try {
    stream = createReadStream(path).pipe(parse({ relax_column_count: true, skip_empty_lines: true, trim: true, bom: true }));
    for await (const fields of stream as AsyncIterable<string[]>) {
      line++;
      if (line === 1 && fields.includes('table') && fields.includes('pk')) {
        header = fields;
        continue;
      }
      const get = (name: string) => (header ? fields[header.indexOf(name)] : undefined);
      const table = header ? get('table') : fields[0];
      const pk = header ? get('pk') : fields.length === 3 ? fields[2] : fields[1];
      const column = header ? (header.includes('column') ? get('column') : undefined) : fields.length === 3 ? fields[1] : undefined;
      const batch = header?.includes('batch') ? Number(get('batch')) : undefined;
      if (!table || !IDENT.test(table)) throw new ConfigError([`${where(line)}: expected a table name, got ${JSON.stringify(table ?? '')}`]);
      if (pk === undefined || pk === '') throw new ConfigError([`${where(line)}: no primary key (expected "table,pk" or a report's columns)`]);
      if (column !== undefined && column !== '' && !IDENT.test(column)) throw new ConfigError([`${where(line)}: expected a column name, got ${JSON.stringify(column)}`]);
      yield { table, column: column || undefined, pk, batch: batch !== undefined && Number.isInteger(batch) && batch > 0 ? batch : undefined };
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'EACCES' || code === 'EISDIR') throw new ConfigError([`--from ${path}: cannot read the file`]);
    throw new ConfigError([`${where(line + 1)}: ${(err as Error).message}`]);
  }
}

/** How many records the file lists and a digest of them: a batch `--from` it records both. */
export async function summarizeRecordList(path: string): Promise<{ rows: number; digest: string }> {
  const hash = createHash('sha256');
  let rows = 0;
  for await (const r of readRecordList(path)) {
    hash.update(`${r.table}\u0000${r.column ?? ''}\u0000${r.pk}\n`);
    rows++;
  }
  if (rows === 0) throw new ConfigError([`--from ${path}: lists no record`]);
  return { rows, digest: hash.digest('hex').slice(0, 16) };
}
