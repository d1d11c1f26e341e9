import type { IncomingMessage } from 'node:http';
import busboy from 'busboy';
import { ByteList } from './bytes.ts';
import { ApiError } from './reply.ts';

/**
 * Clients disagree on how a filename is encoded in a part header: the Python SDK (what
 * django-cloudinary-storage uses) sends UTF-8, while the Node SDK writes the header as 'binary',
 * i.e. latin1. Take UTF-8 when the bytes are valid UTF-8, latin1 otherwise, so `été.png` arrives
 * as `été` from either.
 */
function filenameOf(raw: string | undefined): string {
  if (!raw) return 'file';
  const utf8 = Buffer.from(raw, 'latin1').toString('utf8');
  return utf8.includes('\uFFFD') ? raw : utf8;
}

export interface FormFile {
  /** At most `maxFileBytes` bytes are kept; `bytes` still counts everything that arrived. */
  data: ByteList;
  bytes: number;
  filename: string;
  truncated: boolean;
}

export interface Form {
  /** Raw field names as sent (`public_ids[]` stays `public_ids[]`), all values in order. */
  fields: Map<string, string[]>;
  file?: FormFile;
}

export interface FormLimits {
  maxFileBytes: number;
}

function add(fields: Map<string, string[]>, name: string, value: string): void {
  const list = fields.get(name);
  if (list) list.push(value);
  else fields.set(name, [value]);
}

/** Lets a handler answer only after the client finished sending, so keep-alive sockets stay usable. */
export function drain(req: IncomingMessage): Promise<void> {
  if (req.readableEnded || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.resume();
  });
}

async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      await drain(req);
      throw new ApiError(413, 'Request body too large');
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, size);
}

function parseMultipart(req: IncomingMessage, limits: FormLimits): Promise<Form> {
  return new Promise<Form>((resolve, reject) => {
    const fields = new Map<string, string[]>();
    let file: FormFile | undefined;
    let bb: busboy.Busboy;
    try {
      bb = busboy({
        headers: req.headers,
        // Read the raw bytes; filenameOf() decides between UTF-8 and latin1 (see there).
        defParamCharset: 'latin1',
        // Data URIs arrive as a `file` field: allow them up to the file limit (base64 is 4/3).
        limits: { fieldSize: Math.ceil(limits.maxFileBytes * 1.4) + 1024, fields: 2000, files: 4 },
      });
    } catch {
      reject(new ApiError(400, 'Invalid multipart request'));
      return;
    }
    bb.on('field', (name, value) => add(fields, name, value));
    bb.on('file', (name, stream, info) => {
      if (name !== 'file' || file) {
        stream.resume();
        return;
      }
      const parts: Buffer[] = [];
      const current: FormFile = { data: ByteList.of(Buffer.alloc(0)), bytes: 0, filename: filenameOf(info.filename), truncated: false };
      file = current;
      let kept = 0;
      stream.on('data', (chunk: Buffer) => {
        current.bytes += chunk.length;
        // Keep counting past the limit so "Got N" in the error is the real size.
        if (kept + chunk.length <= limits.maxFileBytes) {
          parts.push(chunk);
          kept += chunk.length;
        } else {
          current.truncated = true;
        }
      });
      stream.on('end', () => {
        // Slices of the request's own buffers: kept as they are, never copied here.
        current.data = new ByteList(parts, kept);
      });
    });
    bb.on('close', () => resolve(file ? { fields, file } : { fields }));
    // A client that gives up mid-body never ends the pipe; without this the promise would leak.
    // 499 (nginx's "client closed request") keeps these apart from real 400s in stats().rejected.
    req.on('close', () => {
      if (!req.complete) {
        req.unpipe(bb);
        bb.destroy();
        reject(new ApiError(499, 'Request aborted by the client'));
      }
    });
    bb.on('error', (err: unknown) => {
      req.unpipe(bb);
      void drain(req);
      reject(new ApiError(400, `Invalid multipart request: ${err instanceof Error ? err.message : String(err)}`));
    });
    req.pipe(bb);
  });
}

/**
 * Cloudinary takes multipart (what the SDK uploads with), urlencoded (what the Admin API sends
 * for DELETE) and JSON bodies; all end up as the same field map.
 */
export async function readForm(req: IncomingMessage, limits: FormLimits): Promise<Form> {
  const type = (req.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return parseMultipart(req, limits);
  const body = await readBody(req, Math.ceil(limits.maxFileBytes * 1.4) + 64 * 1024);
  const fields = new Map<string, string[]>();
  if (body.length === 0) return { fields };
  if (type.startsWith('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      throw new ApiError(400, 'Invalid JSON body');
    }
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
      for (const [k, v] of Object.entries(parsed)) {
        if (Array.isArray(v)) for (const item of v) add(fields, k, String(item));
        else if (v !== null && v !== undefined) add(fields, k, typeof v === 'object' ? JSON.stringify(v) : String(v));
      }
    }
    return { fields };
  }
  for (const [k, v] of new URLSearchParams(body.toString('utf8'))) add(fields, k, v);
  return { fields };
}

/**
 * Collapses raw fields into Cloudinary parameters: `key[]` repeated becomes `key` joined with
 * commas, which is exactly how the SDK represents arrays in the string to sign.
 */
export function toParams(fields: Map<string, string[]>): Record<string, string> {
  const params: Record<string, string> = {};
  for (const [rawName, values] of fields) {
    if (rawName.endsWith('[]')) {
      params[rawName.slice(0, -2)] = values.join(',');
    } else if (values.length > 0) {
      params[rawName] = values[values.length - 1] as string;
    }
  }
  return params;
}

/** Lists sent as `key[]=a&key[]=b` (what the SDK does) or as a repeated plain `key`. */
export function listParam(fields: Map<string, string[]> | URLSearchParams, name: string): string[] | undefined {
  const get = (k: string) => (fields instanceof URLSearchParams ? fields.getAll(k) : (fields.get(k) ?? []));
  const arr = get(`${name}[]`);
  if (arr.length > 0) return arr;
  const plain = get(name);
  return plain.length === 0 ? undefined : plain;
}
