import { once } from 'node:events';
import { startEmulator } from '../emulator/server.ts';
import { println, type CommandIO } from './io.ts';

export interface EmulatorCommandOptions {
  port: number;
  host: string;
}

const num = (v: string | undefined, fallback: number) => (v === undefined || v === '' ? fallback : Number(v));

/**
 * `media-migrate emulator`: the bundled Cloudinary API emulator as a server of its own, for docker
 * compose, benchmarks and trying the tool by hand. Credentials and faults come from EMULATOR_* settings.
 */
export async function emulatorCommand(opts: EmulatorCommandOptions, io: CommandIO): Promise<number> {
  const e = io.env;
  const emulator = await startEmulator({
    port: opts.port,
    host: opts.host,
    cloudName: e.EMULATOR_CLOUD_NAME ?? 'demo',
    apiKey: e.EMULATOR_API_KEY ?? '123456789012345',
    apiSecret: e.EMULATOR_API_SECRET ?? 'emulator-secret',
    faults: {
      latencyMs: num(e.EMULATOR_LATENCY_MS, 0),
      latencyJitterMs: num(e.EMULATOR_LATENCY_JITTER_MS, 0),
      errorRate: num(e.EMULATOR_ERROR_RATE, 0),
      rateLimitRate: num(e.EMULATOR_RATE_LIMIT_RATE, 0),
      hangRate: num(e.EMULATOR_HANG_RATE, 0),
    },
  });
  // Where the emulator is reachable from others (a container name, say) differs from where it binds.
  const publicOrigin = e.EMULATOR_PUBLIC_URL ?? emulator.url;
  println(io.stdout, `Cloudinary emulator listening on ${emulator.url}`);
  // Whole, so it can be pasted: the emulator's secret guards nothing (a local fake, any client may
  // read it from EMULATOR_API_SECRET or its default), and a masked one only made the line useless.
  println(io.stdout, `CLOUDINARY_URL=cloudinary://${emulator.apiKey}:${emulator.apiSecret}@${emulator.cloudName}?upload_prefix=${publicOrigin}`);
  if (io.signal && !io.signal.aborted) await once(io.signal, 'abort');
  await emulator.close();
  return 0;
}
