import { checkDatabase } from '../../src/db/connect.ts';
import type { DashboardDeps } from '../deps.ts';
import { HttpStatus, ok, type Handler } from '../http.ts';

const TIMEOUT_MS = 3_000;

/** "ok", or a short error code: no message, which could quote a host or a setting. */
async function probe(check: () => Promise<unknown>): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })), TIMEOUT_MS);
  });
  try {
    await Promise.race([check(), timeout]);
    return 'ok';
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    return `error${typeof code === 'string' && /^[A-Z0-9_]{1,40}$/.test(code) ? `: ${code}` : ''}`;
  } finally {
    clearTimeout(timer);
  }
}

/** GET /healthz — 200 when Redis and the database both answer, 503 otherwise; says which one failed. */
export function healthHandler(deps: DashboardDeps): Handler {
  return async () => {
    const [database, redis] = await Promise.all([probe(() => checkDatabase(deps.db)), probe(() => deps.redis.ping())]);
    const healthy = database === 'ok' && redis === 'ok';
    return ok({ ok: healthy, database, redis }, healthy ? HttpStatus.ok : HttpStatus.unavailable);
  };
}
