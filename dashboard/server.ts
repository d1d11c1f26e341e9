import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createDashboardApp } from './app.ts';
import type { DashboardDeps } from './deps.ts';

export interface RunningDashboard {
  server: Server;
  /** e.g. http://127.0.0.1:3000 */
  url: string;
  close(): Promise<void>;
}

/** Loopback addresses: the only ones the dashboard listens on without credentials set by the operator. */
export function isLoopback(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || /^127(\.\d{1,3}){3}$/.test(h);
}

/** Listens on host:port (0 picks a free port) and resolves once it accepts connections. */
export async function startDashboard(deps: DashboardDeps, opts: { host: string; port: number }): Promise<RunningDashboard> {
  const { app } = createDashboardApp(deps);
  const server = createServer(app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    server,
    url: `http://${host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Browsers keep connections alive; they must not hold the shutdown.
        server.closeAllConnections();
      }),
  };
}
