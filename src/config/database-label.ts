import type { DatabaseConfig } from './types.ts';

/**
 * A database named for humans, without credentials: `postgres db.internal:5432/shop schema app`,
 * `mysql 127.0.0.1:3306/shop`, `sqlite /srv/app/db.sqlite3`. What log lines say when two databases
 * share one Redis; the user name and password never appear.
 */
export function databaseLabel(cfg: DatabaseConfig): string {
  if (cfg.client === 'better-sqlite3') return `sqlite ${sqliteFilename(cfg.url)}`;
  try {
    const u = new URL(cfg.url);
    const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
    const where = `${u.hostname}:${u.port || (cfg.client === 'pg' ? 5432 : 3306)}/${name}`;
    return cfg.client === 'pg' ? `postgres ${where}${cfg.schema ? ` schema ${cfg.schema}` : ''}` : `mysql ${where}`;
  } catch {
    return cfg.client === 'pg' ? 'postgres' : 'mysql';
  }
}

/** `sqlite:///abs/app.db`, `sqlite://relative.db`, `sqlite::memory:` or `file:app.db`. */
export function sqliteFilename(url: string): string {
  return url.replace(/^(sqlite|file):(\/\/)?/, '') || ':memory:';
}
