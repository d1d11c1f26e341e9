/** Cloudinary's API speaks whole seconds everywhere; these keep the formats in one place. */

export function unixSeconds(date: Date = new Date()): number {
  return Math.floor(date.getTime() / 1000);
}

/** `2024-05-01T12:00:00Z`, the `created_at` format (no milliseconds). */
export function isoSeconds(date: Date): string {
  return `${date.toISOString().slice(0, 19)}Z`;
}

/** `2024-05-01 12:00:00`, used in "Stale request" and "Try again on" messages. */
export function cloudinaryDateTime(date: Date): string {
  return date.toISOString().slice(0, 19).replace('T', ' ');
}

/** Rounded up so a client that waits until the stated second is never early. */
export function ceilToSecond(ms: number): Date {
  return new Date(Math.ceil(ms / 1000) * 1000);
}
