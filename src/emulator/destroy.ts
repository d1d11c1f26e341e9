import type { IncomingMessage } from 'node:http';
import type { EmulatorContext } from './context.ts';
import { drain, readForm } from './form.ts';
import { ApiError, ok, type Reply } from './reply.ts';
import { authenticateSigned } from './signed-request.ts';

const MAX_DESTROY_BODY = 1024 * 1024;

/** `POST /v1_1/:cloud/:resource_type/destroy`, signed like an upload. */
export async function handleDestroy(
  ctx: EmulatorContext,
  req: IncomingMessage,
  cloud: string,
  resourceType: string,
): Promise<Reply> {
  if (cloud !== ctx.cloudName) {
    await drain(req);
    throw new ApiError(404, `Invalid cloud_name ${cloud}`);
  }
  const form = await readForm(req, { maxFileBytes: MAX_DESTROY_BODY });
  const params = authenticateSigned(ctx, form.fields);
  const publicId = params.public_id;
  if (!publicId) throw new ApiError(400, 'Missing required parameter - public_id');
  const type = params.type || 'upload';
  const removed = type === 'upload' && ctx.store.delete(resourceType, publicId);
  if (removed) ctx.stats.counters.destroyed += 1;
  ctx.log?.debug({ publicId, removed }, 'destroy');
  return ok({ result: removed ? 'ok' : 'not found' });
}
