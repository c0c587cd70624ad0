/**
 * The gateway's listener and lifecycle: one mTLS port, two protocols chosen by ALPN. "h2"
 * connections are handed to the gRPC control service (control-service.ts); "kmesh-bulk/1"
 * connections carry chunk frames (bulk.ts). The TLS layer checks the client certificate against
 * the site CA; the control service checks its identity against the DataFlow's peers, and a bulk
 * connection may only join a session opened by the same certificate (sessions.ts).
 */
import { createServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials } from '@grpc/grpc-js';
import type { Logger } from '../../lib/logging.js';
import { BULK_ALPN, syncClient } from '../wire/protocol.js';
import type { TlsMaterial } from '../wire/tls.js';
import { serveBulk } from './bulk.js';
import { controlService } from './control-service.js';
import type { GatewayMetrics } from './metrics.js';
import { Published } from './published.js';
import { Sessions } from './sessions.js';
import { Sites, type ServedDataFlow } from './sites.js';

export interface GatewayOptions {
  host: string;
  port: number;
  tls: TlsMaterial;
  dataFlows: () => ServedDataFlow[];
  log: Logger;
  metrics?: GatewayMetrics;
  /** Sessions unused this long are forgotten (a worker reconnects and says hello again). */
  sessionIdleMs?: number;
}

export interface Gateway {
  port: number;
  sites: Sites;
  /** Serves new connections with this certificate, key and CA (a rotated Secret); open ones keep theirs. */
  setTls(tls: TlsMaterial): void;
  close(): Promise<void>;
}

/** Largest gRPC control message either way (a PutNodes of many manifest nodes). */
const MAX_CONTROL_MESSAGE_BYTES = 256 * 1024 * 1024;

/** Listens on host:port until close(); resolves once listening. */
export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { log, metrics } = options;
  const sites = new Sites(options.dataFlows);
  const sessions = new Sessions(options.sessionIdleMs ?? 10 * 60_000);

  const grpc = new Server({
    'grpc.max_receive_message_length': MAX_CONTROL_MESSAGE_BYTES,
    'grpc.max_send_message_length': MAX_CONTROL_MESSAGE_BYTES,
  });
  const published = new Published();
  grpc.addService(syncClient().service, controlService({ sites, sessions, published, log, metrics }));
  const injector = grpc.createConnectionInjector(ServerCredentials.createInsecure()); // TLS is already terminated below

  const server: TlsServer = createServer({
    ca: options.tls.ca,
    cert: options.tls.cert,
    key: options.tls.key,
    requestCert: true,
    rejectUnauthorized: true,
    ALPNProtocols: ['h2', BULK_ALPN],
  });
  server.on('tlsClientError', (error) => log.warn({ err: error.message }, 'TLS handshake refused'));
  const sockets = new Set<TLSSocket>();
  server.on('secureConnection', (socket: TLSSocket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    if (socket.alpnProtocol === BULK_ALPN) serveBulk(socket, { sessions, log, metrics });
    else if (socket.alpnProtocol === 'h2') injector.injectConnection(socket);
    else socket.destroy();
  });

  const sweep = setInterval(
    () => {
      sessions.expire();
      sites.purge();
    },
    Math.min(sessions.idleMs, 60_000),
  );
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, resolve);
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: options.host, port }, 'sync gateway listening');
  return {
    port,
    sites,
    setTls: (tls) => server.setSecureContext({ ca: tls.ca, cert: tls.cert, key: tls.key }),
    close: async () => {
      clearInterval(sweep);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
      injector.destroy();
      grpc.forceShutdown();
      sites.close();
    },
  };
}
