import { Writable } from 'node:stream';
import { pino, type Logger, type DestinationStream } from 'pino';
import pretty from 'pino-pretty';

export type { Logger };

export interface LoggerOptions {
  level?: string;
  /** Values to scrub from every line, whatever field or message they hide in. */
  secrets?: readonly string[];
  /** Where lines go; stderr by default so stdout stays for results (`--json`, the summary line). */
  destination?: DestinationStream;
  /** Human-readable lines; defaults to whether stderr is a terminal. */
  pretty?: boolean;
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

/**
 * Field-based redaction covers the names we know; the scrubbing stream covers everything else
 * (a driver error quoting a connection string, say), because a secret must never reach a log.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const scrub = scrubber(opts.secrets ?? []);
  const usePretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  const target: DestinationStream =
    opts.destination ??
    (usePretty ? pretty({ destination: 2, sync: true, ignore: 'pid,hostname,jobId', singleLine: true }) : pino.destination({ dest: 2, sync: true }));
  const scrubbing = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      target.write(scrub(chunk.toString()));
      cb();
    },
  });
  return pino(
    {
      level: opts.level ?? 'info',
      base: { pid: process.pid },
      redact: {
        paths: ['apiSecret', 'api_secret', '*.apiSecret', '*.api_secret', 'password', '*.password', 'cloudinaryUrl'],
        censor: '[REDACTED]',
      },
    },
    scrubbing,
  );
}

/** A logger that drops everything, for code paths whose caller wants no output. */
export const silentLogger: Logger = pino({ level: 'silent' });
