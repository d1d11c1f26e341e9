import { createRequire } from 'node:module';
import { Writable } from 'node:stream';
import { pino, type Logger, type DestinationStream } from 'pino';
import type PinoPretty from 'pino-pretty';
import { scrubber } from './secrets.ts';

// pino-pretty loads only for a terminal: scripts, containers and CI get JSON lines and skip its ~30 ms.
const require = createRequire(import.meta.url);
const loadPretty = () => require('pino-pretty') as typeof PinoPretty;

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

/**
 * Field-based redaction covers the names we know; the scrubbing stream covers everything else
 * (a driver error quoting a connection string, say), because a secret must never reach a log.
 */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const scrub = scrubber(opts.secrets ?? []);
  const usePretty = opts.pretty ?? Boolean(process.stderr.isTTY);
  const target: DestinationStream =
    opts.destination ??
    (usePretty ? loadPretty()({ destination: 2, sync: true, ignore: 'pid,hostname,jobId', singleLine: true }) : pino.destination({ dest: 2, sync: true }));
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
