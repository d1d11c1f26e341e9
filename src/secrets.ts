/** The environment as the process received it. */
type Env = Record<string, string | undefined>;

/**
 * Which values are secret, and keeping them out of text. No dependencies: the CLI's entry scrubs its
 * error messages with these before it has loaded anything else (and `--help` loads nothing else).
 */

/**
 * Secrets as they appear in the environment, found without validating anything, so even the error
 * that reports a bad setting can be scrubbed of them.
 */
export function secretsInEnv(env: Env): string[] {
  const out: string[] = [];
  for (const key of ['API_SECRET', 'CLOUDINARY_API_SECRET', 'DASHBOARD_PASSWORD']) {
    const v = env[key];
    if (v) out.push(v);
  }
  for (const key of ['CLOUDINARY_URL', 'DATABASE_URL', 'REDIS_URL']) {
    const v = env[key];
    const m = v ? /^[a-z0-9+.-]+:\/\/[^:/@]*:([^@]+)@/i.exec(v) : null;
    if (m?.[1]) out.push(m[1], decodeURIComponent(m[1]));
  }
  return [...new Set(out.filter((s) => s.length >= 4))];
}

/** Replaces each known secret in a string; cheap enough to run on every log line. */
export function scrubber(secrets: readonly string[]): (text: string) => string {
  const list = secrets.filter((s) => s.length > 0);
  if (list.length === 0) return (t) => t;
  return (text) => {
    let out = text;
    for (const s of list) if (out.includes(s)) out = out.split(s).join('[REDACTED]');
    return out;
  };
}
