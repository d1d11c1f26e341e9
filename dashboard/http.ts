/**
 * The dashboard's handlers know nothing of Express: each takes a plain request and returns
 * `{ status, body }`. `app.ts` maps Express onto this, and one error handler owns every failure.
 */

export const HttpStatus = {
  ok: 200,
  created: 201,
  badRequest: 400,
  unauthorized: 401,
  forbidden: 403,
  notFound: 404,
  conflict: 409,
  internalError: 500,
  unavailable: 503,
} as const;
export type HttpStatus = (typeof HttpStatus)[keyof typeof HttpStatus];

export interface DashboardRequest {
  params: Readonly<Record<string, string | undefined>>;
  query: Readonly<Record<string, string | undefined>>;
  body: unknown;
}

/** A JSON answer, or CSV lines streamed as they are read from the ledger. */
export type Reply =
  | { status: HttpStatus; body: unknown }
  | { status: HttpStatus; csv: AsyncIterable<string>; filename: string };

export type Handler = (req: DashboardRequest) => Promise<Reply>;

/** An answer other than 200 that a handler decides on; anything else thrown is a 500. */
export class HttpError extends Error {
  constructor(
    readonly status: HttpStatus,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export function ok(body: unknown, status: HttpStatus = HttpStatus.ok): Reply {
  return { status, body };
}

/** A positive integer from a path or query parameter, or a 400 naming the parameter. */
export function intParam(name: string, value: string | undefined, opts: { fallback?: number; max?: number } = {}): number {
  if ((value === undefined || value === '') && opts.fallback !== undefined) return opts.fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new HttpError(HttpStatus.badRequest, `${name}: expected a positive integer`);
  return opts.max !== undefined ? Math.min(n, opts.max) : n;
}
