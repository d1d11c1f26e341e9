import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { handleAdmin } from './admin.ts';
import { ChunkAssembler } from './chunks.ts';
import type { EmulatorContext } from './context.ts';
import { handleControl } from './control.ts';
import { handleDelivery, pathSegments } from './delivery.ts';
import { handleDestroy } from './destroy.ts';
import { FaultInjector } from './faults.ts';
import { drain } from './form.ts';
import { HourlyQuota } from './quota.ts';
import { ApiError, HANG, writeEmpty, writeJson, type JsonReply, type Reply } from './reply.ts';
import { StatsRecorder } from './stats.ts';
import { AssetStore } from './store.ts';
import type { Emulator, EmulatorOptions } from './types.ts';
import { handleTags } from './tags.ts';
import { handleUpload } from './upload.ts';

export type { Emulator, EmulatorAsset, EmulatorOptions, EmulatorStats, Faults } from './types.ts';
export type { ResourceType } from '../media/kind.ts';
export { DEFAULT_FAULTS } from './faults.ts';
export { deliveryUrlOptions, sdkOptions, type DeliveryUrlOptions, type EmulatorSdkOptions, type SdkTarget } from './sdk-options.ts';
export { stringToSign } from './signature.ts';

const MB = 1024 * 1024;

/** Pending latency timers, so close() need not wait out a 10 s injected delay. */
class Sleeps {
  private readonly pending = new Map<NodeJS.Timeout, () => void>();

  wait(ms: number): Promise<void> {
    if (ms <= 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(timer);
        resolve();
      }, ms);
      this.pending.set(timer, resolve);
    });
  }

  cancelAll(): void {
    for (const [timer, resolve] of this.pending) {
      clearTimeout(timer);
      resolve();
    }
    this.pending.clear();
  }
}

function originOf(ctx: EmulatorContext, req: IncomingMessage): string {
  // The Host header makes URLs right for clients that reach us under another name (containers).
  const host = req.headers.host;
  return host ? `http://${host}` : ctx.origin;
}

export async function startEmulator(opts: EmulatorOptions = {}): Promise<Emulator> {
  const cloudName = opts.cloudName ?? 'demo';
  const apiKey = opts.apiKey ?? '123456789012345';
  const apiSecret = opts.apiSecret ?? 'emulator-secret';
  const maxImageBytes = opts.maxImageBytes ?? 100 * MB;
  const host = opts.host ?? '127.0.0.1';
  const log = opts.logger?.child({ component: 'cloudinary-emulator' });

  const ctx: EmulatorContext = {
    cloudName,
    apiKey,
    apiSecret,
    maxImageBytes,
    store: new AssetStore(),
    stats: new StatsRecorder(),
    faults: new FaultInjector(opts.faults, opts.seed),
    quota: new HourlyQuota(opts.adminHourlyLimit ?? 500),
    chunks: new ChunkAssembler(opts.minChunkBytes ?? 5_000_000, maxImageBytes),
    log,
    origin: '',
  };
  const sleeps = new Sleeps();
  const hanging = new Set<ServerResponse>();
  let closing = false;

  const reset = (): void => {
    ctx.store.clear();
    ctx.stats.reset();
    ctx.chunks.clear();
    ctx.quota.reset();
  };

  async function answer(req: IncomingMessage, res: ServerResponse, work: () => Promise<Reply>): Promise<void> {
    const started = Date.now();
    let reply: Reply;
    try {
      reply = await work();
    } catch (err) {
      if (err instanceof ApiError) {
        reply = err.toReply();
      } else {
        log?.debug({ err }, 'emulator handler failed');
        reply = { status: 500, body: { error: { message: 'General Error' } } };
      }
    }
    if (reply === HANG) {
      hanging.add(res);
      res.once('close', () => hanging.delete(res));
      return;
    }
    const json: JsonReply = reply;
    if (json.status >= 400) ctx.stats.reject(json.status);
    await sleeps.wait(ctx.faults.latency());
    if (closing) return;
    writeJson(res, json);
    log?.debug({ method: req.method, url: req.url?.split('?')[0], status: json.status, ms: Date.now() - started }, 'api request');
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    const method = req.method ?? 'GET';

    if (path.startsWith('/__emulator/')) {
      await handleControl(ctx, req, res, path.slice('/__emulator/'.length), reset, query);
      return;
    }
    const segments = pathSegments(path);
    if (!segments) {
      await drain(req);
      writeEmpty(res, 400);
      return;
    }
    if (segments[0] === 'v1_1') {
      const [, cloud = '', first = '', second = '', ...more] = segments;
      const origin = originOf(ctx, req);
      if (first === 'ping' || first === 'resources') {
        await answer(req, res, () => handleAdmin(ctx, req, cloud, segments.slice(2), query, origin));
      } else if (method === 'POST' && second === 'upload' && more.length === 0) {
        await answer(req, res, () => handleUpload(ctx, req, cloud, first, origin));
      } else if (method === 'POST' && second === 'destroy' && more.length === 0) {
        await answer(req, res, () => handleDestroy(ctx, req, cloud, first));
      } else if (method === 'POST' && second === 'tags' && more.length === 0) {
        await answer(req, res, () => handleTags(ctx, req, cloud, first));
      } else {
        await answer(req, res, async () => {
          await drain(req);
          throw new ApiError(404, `Unsupported API call ${method} ${path}`);
        });
      }
      return;
    }
    if (method === 'GET' || method === 'HEAD') {
      await drain(req);
      handleDelivery(ctx, req, res, segments);
      return;
    }
    await drain(req);
    writeEmpty(res, 404);
  }

  const server = createServer({ keepAlive: true, noDelay: true }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      log?.debug({ err }, 'emulator request failed');
      if (!res.headersSent) writeJson(res, { status: 500, body: { error: { message: 'General Error' } } });
    });
  });
  // Longer than typical client idle timeouts, so the client (not us) retires idle sockets and
  // never writes into one we are closing.
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port: opts.port ?? 0, host, backlog: 1024 }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  ctx.origin = url;
  log?.debug({ url, cloudName }, 'cloudinary emulator listening');

  return {
    url,
    port,
    cloudName,
    apiKey,
    apiSecret,
    cloudinaryUrl: `cloudinary://${apiKey}:${apiSecret}@${cloudName}?upload_prefix=${url}`,
    assets: ctx.store.images,
    assetsOf: (resourceType) => ctx.store.view(resourceType),
    setFaults: (f) => {
      ctx.faults.set(f);
    },
    faults: () => ctx.faults.get(),
    stats: () => ctx.stats.snapshot(),
    reset,
    close: async () => {
      if (closing) return;
      closing = true;
      sleeps.cancelAll();
      for (const res of hanging) res.socket?.destroy();
      hanging.clear();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      await closed;
    },
  };
}
