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

const LEVELS = new Set(['trace', 'debug', 'info', 'warn', 'error', 'fatal']);
const ignore = () => {};

/**
 * `parent.child(bindings)`, made the first time something is logged through it. A worker makes one
 * logger per job, and most jobs log nothing at the level in force (a record's own line is at debug);
 * pino builds a child's bindings at once, each value through the redaction paths, which a heap
 * profile of `migrate` put at ~7 KB a job, all of it garbage by the job's end.
 */
export function lazyChild(parent: Logger, bindings: Record<string, unknown>): Logger {
  let child: Logger | undefined;
  return new Proxy(parent, {
    get(target, key) {
      if (!child && typeof key === 'string' && LEVELS.has(key) && !target.isLevelEnabled(key)) return ignore;
      child ??= target.child(bindings);
      const value: unknown = Reflect.get(child, key, child);
      return typeof value === 'function' ? (value as (...args: unknown[]) => unknown).bind(child) : value;
    },
  });
}
