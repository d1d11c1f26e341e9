import type { Reason } from './outcomes.ts';

/**
 * Whether a failure is worth another attempt is part of its type, not something the worker guesses
 * from a message: the worker only asks `err.retryable`.
 */
export abstract class MigrationError extends Error {
  abstract readonly retryable: boolean;
  constructor(
    readonly reason: Reason,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The record can never succeed as it is (bad path, not an image, refused by Cloudinary...). */
export class PermanentError extends MigrationError {
  readonly retryable = false as const;
}

/** Network trouble, a timeout, a 5xx: the same attempt may well succeed later. */
export class RetryableError extends MigrationError {
  readonly retryable = true as const;
}

/** Cloudinary said 420/429: the whole queue waits, and the job keeps its attempts. */
export class RateLimitedError extends RetryableError {
  constructor(
    readonly retryAfterMs: number,
    message: string,
  ) {
    super('cloudinary_rejected', message);
  }
}

/** The database could not be reached: the job waits for it without spending its attempts. */
export class DatabaseUnavailableError extends RetryableError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('retries_exhausted', message, options);
  }
}

/**
 * Cloudinary refused our key or secret. Every other job would fail the same way, so the batch halts
 * instead of burning every job's attempts.
 */
export class CredentialsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CredentialsError';
  }
}

/** A setting is missing or malformed. All problems are collected so the user fixes them in one go. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'ConfigError';
  }
}

/** Ends a command with a given exit code; only the CLI entry turns it into `process.exit`. */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.message;
  if (err && typeof err === 'object' && 'message' in err) return String((err as { message: unknown }).message);
  return String(err);
}
