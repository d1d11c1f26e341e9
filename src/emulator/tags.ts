import type { IncomingMessage } from 'node:http';
import type { EmulatorContext } from './context.ts';
import { drain, listParam, readForm } from './form.ts';
import { ApiError, ok, type Reply } from './reply.ts';
import { authenticateSigned } from './signed-request.ts';

const MAX_TAGS_BODY = 4 * 1024 * 1024;
const MAX_IDS = 1_000;
const COMMANDS = new Set(['add', 'remove', 'replace', 'remove_all', 'set_exclusive']);

/**
 * `POST /v1_1/:cloud/:resource_type/tags` (uploader.add_tag, remove_tag, replace_tag,
 * remove_all_tags), signed like an upload. Answers the public_ids that exist, as Cloudinary does;
 * ids that do not are left out without an error.
 */
export async function handleTags(ctx: EmulatorContext, req: IncomingMessage, cloud: string, resourceType: string): Promise<Reply> {
  if (cloud !== ctx.cloudName) {
    await drain(req);
    throw new ApiError(404, `Invalid cloud_name ${cloud}`);
  }
  const form = await readForm(req, { maxFileBytes: MAX_TAGS_BODY });
  const params = authenticateSigned(ctx, form.fields);
  ctx.stats.counters.tagCalls += 1;
  const command = params.command ?? '';
  if (!COMMANDS.has(command)) throw new ApiError(400, `Invalid command ${command}`);
  const ids = listParam(form.fields, 'public_ids') ?? [];
  if (ids.length === 0) throw new ApiError(400, 'Missing required parameter - public_ids');
  if (ids.length > MAX_IDS) throw new ApiError(400, `Too many public_ids - got ${ids.length}, maximum is ${MAX_IDS}`);
  const tags = (params.tag ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  if (command !== 'remove_all' && tags.length === 0) throw new ApiError(400, 'Missing required parameter - tag');
  if ((params.type || 'upload') !== 'upload') return ok({ public_ids: [] });

  if (command === 'set_exclusive') {
    for (const a of ctx.store.list(resourceType)) {
      if (!ids.includes(a.publicId)) remove(a.tags, tags);
    }
  }
  const found: string[] = [];
  for (const id of new Set(ids)) {
    const asset = ctx.store.get(resourceType, id);
    if (!asset) continue;
    found.push(id);
    if (command === 'add' || command === 'set_exclusive') {
      for (const t of tags) if (!asset.tags.includes(t)) asset.tags.push(t);
    } else if (command === 'remove') {
      remove(asset.tags, tags);
    } else if (command === 'replace') {
      asset.tags.splice(0, asset.tags.length, ...tags);
    } else {
      asset.tags.splice(0, asset.tags.length);
    }
  }
  ctx.log?.debug({ command, tags, ids: ids.length, found: found.length }, 'tags');
  return ok({ public_ids: found });
}

function remove(list: string[], tags: readonly string[]): void {
  for (let i = list.length - 1; i >= 0; i--) if (tags.includes(list[i] as string)) list.splice(i, 1);
}
