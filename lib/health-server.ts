/**
 * The HTTP endpoints every Kmesh process serves: /metrics (Prometheus), /healthz (the process
 * answers) and /readyz (the component says it is ready), plus any JSON routes a component adds
 * (the sync worker's /status, which the operator reads).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry: Registry;
  ready: () => boolean;
  /** A deeper liveness check for /healthz; without one, answering at all means alive. */
  live?: () => Promise<boolean>;
  routes?: Record<string, () => unknown>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      (options.live ?? (() => Promise.resolve(true)))().then(
        (live) => res.writeHead(live ? 200 : 503, { 'Content-Type': 'text/plain' }).end(live ? 'ok' : 'not live'),
        (error: unknown) => res.writeHead(503).end(String(error)),
      );
    } else if (path === '/readyz') {
      const ready = options.ready();
      res.writeHead(ready ? 200 : 503, { 'Content-Type': 'text/plain' }).end(ready ? 'ok' : 'not ready');
    } else if (path === '/metrics') {
      options.registry.metrics().then(
        (text) => res.writeHead(200, { 'Content-Type': options.registry.contentType }).end(text),
        (error: unknown) => res.writeHead(500).end(String(error)),
      );
    } else if (path && options.routes?.[path]) {
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(options.routes[path]()));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', resolve);
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
