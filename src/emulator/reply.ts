import type { ServerResponse } from 'node:http';

/**
 * What an API handler decided. Handlers return replies instead of writing them so the server can
 * apply injected latency, count rejections and skip answering hung requests in one place.
 */
export interface JsonReply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

/** A request that is read but never answered. */
export const HANG = Symbol('hang');
export type Reply = JsonReply | typeof HANG;

/** Thrown anywhere in a handler to answer Cloudinary's `{"error":{"message"}}` shape. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toReply(): JsonReply {
    return { status: this.status, body: { error: { message: this.message } }, headers: this.headers };
  }
}

export function ok(body: unknown, headers?: Record<string, string>): JsonReply {
  return { status: 200, body, headers };
}

/**
 * One `end()` call per answer: writeHead only buffers the header, so headers and body leave in
 * a single write, which matters with hundreds of keep-alive connections.
 */
export function writeJson(res: ServerResponse, reply: JsonReply): void {
  if (res.destroyed || res.writableEnded) return;
  const body = Buffer.from(JSON.stringify(reply.body));
  res.writeHead(reply.status, {
    ...reply.headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(body.length),
  });
  res.end(body);
}

export function writeEmpty(res: ServerResponse, status: number, headers: Record<string, string> = {}): void {
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, { ...headers, 'Content-Length': '0' });
  res.end();
}
