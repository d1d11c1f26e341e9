import type { Writable } from 'node:stream';
import type { Env } from '../config/config.ts';
import { createLogger, type Logger } from '../logger.ts';

/** What a command may touch of the outside world; tests pass their own. */
export interface CommandIO {
  env: Env;
  stdout: Writable;
  stderr: Writable;
  /** Whether to draw a progress bar (stderr is a terminal). */
  isTTY: boolean;
  /** Aborted on SIGINT/SIGTERM: commands finish what is in flight and return. */
  signal?: AbortSignal;
  /** Overrides the logger built from LOG_LEVEL (tests capture lines through it). */
  logger?: Logger;
  cwd?: string;
}

export function loggerFor(io: CommandIO, level: string, secrets: readonly string[]): Logger {
  return io.logger ?? createLogger({ level, secrets, pretty: io.isTTY });
}

export function println(stream: Writable, line = ''): void {
  stream.write(`${line}\n`);
}

export function parsePositiveInt(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${name}: expected a positive integer, got "${value}"`);
  return n;
}
