import type { IncomingMessage, ServerResponse } from 'node:http';
import { isoSeconds } from './clock.ts';
import type { EmulatorContext } from './context.ts';
import { drain } from './form.ts';
import { writeJson } from './reply.ts';

const MAX_CONTROL_BODY = 64 * 1024;

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_CONTROL_BODY) throw new TypeError('body too large');
    chunks.push(chunk);
  }
  const text = Buffer.concat(chunks).toString('utf8').trim();
  return text === '' ? {} : JSON.parse(text);
}

/**
 * `/__emulator/*`: lets benchmarks and containers steer an emulator running in another process.
 * Never delayed or faulted, so the controller always sees the truth promptly.
 */
export async function handleControl(
  ctx: EmulatorContext,
  req: IncomingMessage,
  res: ServerResponse,
  action: string,
  reset: () => void,
  query: URLSearchParams = new URLSearchParams(),
): Promise<void> {
  const method = req.method ?? 'GET';
  if (method === 'GET' || method === 'HEAD') await drain(req);
  switch (`${method} ${action}`) {
    case 'GET health':
      writeJson(res, { status: 200, body: { status: 'ok', cloud_name: ctx.cloudName } });
      return;
    case 'GET stats':
      writeJson(res, { status: 200, body: ctx.stats.snapshot() });
      return;
    case 'GET faults':
      writeJson(res, { status: 200, body: ctx.faults.get() });
      return;
    case 'PUT faults':
    case 'POST faults':
    case 'PATCH faults': {
      try {
        const patch = await readJson(req);
        writeJson(res, { status: 200, body: ctx.faults.set(patch as never) });
      } catch (err) {
        writeJson(res, { status: 400, body: { error: { message: err instanceof Error ? err.message : String(err) } } });
      }
      return;
    }
    case 'POST reset':
      await drain(req);
      reset();
      writeJson(res, { status: 200, body: { ok: true } });
      return;
    case 'GET assets': {
      // Images unless `?resource_type=raw|video` says otherwise: each type is its own namespace.
      const type = query.get('resource_type') ?? 'image';
      if (type !== 'image' && type !== 'raw' && type !== 'video') {
        writeJson(res, { status: 400, body: { error: { message: `Invalid resource_type ${type}` } } });
        return;
      }
      writeJson(res, {
        status: 200,
        body: {
          assets: [...ctx.store.view(type).values()].map((a) => ({
            public_id: a.publicId,
            resource_type: a.resourceType,
            asset_id: a.assetId,
            version: a.version,
            format: a.format,
            bytes: a.bytes,
            etag: a.etag,
            width: a.width,
            height: a.height,
            tags: a.tags,
            created_at: isoSeconds(a.createdAt),
          })),
        },
      });
      return;
    }
    default:
      await drain(req);
      writeJson(res, { status: 404, body: { error: { message: `Unknown control endpoint ${method} /__emulator/${action}` } } });
  }
}
