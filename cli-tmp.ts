import { Agent } from 'node:http';
import { fork } from 'node:child_process';
import { v2 as cloudinary } from 'cloudinary';
import { sdkOptions } from './src/emulator/server.ts';
import { largePngBytes } from './test/helpers/images.ts';
const child = fork('srv-tmp.ts', { execArgv: ['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir=/tmp/prof'] });
await new Promise((r) => child.once('message', r));
const ask = () => new Promise<any>((r) => { child.once('message', r); child.send('cpu'); });
const agent = new Agent({ keepAlive: true, maxSockets: 512 });
const o = sdkOptions({ url: 'http://127.0.0.1:47123', cloudName: 'demo', apiKey: '123456789012345', apiSecret: 'emulator-secret' }, agent);
const size = Number(process.argv[2] ?? 1_000_000);
const img = [0, 1, 2, 3].map((s) => largePngBytes(size, s));
const up = (i: number) => new Promise<void>((res, rej) => { const s = cloudinary.uploader.upload_stream({ ...o, public_id: `b/${i}` }, (e) => (e ? rej(e) : res())); s.end(img[i % 4]); });
for (const conc of [32, 128]) {
  const total = conc * 8; let next = 0;
  const before = await ask(); const t = Date.now(); const c0 = process.cpuUsage();
  await Promise.all(Array.from({ length: conc }, async () => { while (next < total) await up(next++); }));
  const ms = Date.now() - t; const after = await ask(); const c = process.cpuUsage(c0);
  console.log(`size=${size} conc=${conc} n=${total} ${ms}ms ${(total / ms * 1000).toFixed(0)}/s ideal ${(conc / 0.275).toFixed(0)}/s | server cpu ${((after.cpu - before.cpu) / total).toFixed(2)} ms/upload | client cpu ${((c.user + c.system) / 1000 / total).toFixed(2)} ms/upload`);
}
child.kill('SIGINT'); await new Promise((r) => setTimeout(r, 1500)); agent.destroy();
