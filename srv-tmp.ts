import { startEmulator } from './src/emulator/server.ts';
const emu = await startEmulator({ port: 47123, faults: { latencyMs: 250, latencyJitterMs: 50 } });
process.on('message', (m) => { if (m === 'cpu') { const c = process.cpuUsage(); process.send!({ cpu: (c.user + c.system) / 1000 }); } });
process.on('SIGINT', () => process.exit(0)); process.send!('ready');
