/**
 * The gateway's listener: one mTLS port, two protocols chosen by ALPN. "h2" connections are handed
 * to the gRPC control service; "kmesh-bulk/1" connections carry chunk frames. Both check the
 * client certificate against the site CA (the TLS layer) and its identity against the DataFlow's
 * peers (here), and a bulk connection may only join a session opened by the same certificate.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { Server, ServerCredentials, status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { failedPrecondition, invalidArgument, notFound, StatusError } from '../../lib/errors.js';
import { wrapUnary, type Handler, type UnaryCall } from '../../lib/grpc-unary.js';
import type { Logger } from '../../lib/logging.js';
import { chunkHash } from '../engine/chunker.js';
import { COMPRESSIONS, ChunkRejected, keyCheck, openChunk, type Compression, type SealPolicy } from '../engine/seal.js';
import type { Receiver } from '../engine/receiver.js';
import { BULK_ALPN, decodeFrame, encodeFrame, FrameReader, hex, PROTOCOL_VERSION, raw, syncClient } from '../wire/protocol.js';
import { identitiesOf, type TlsMaterial } from '../wire/tls.js';
import { acceptsFrom, Sites, type ServedDataFlow } from './sites.js';
import type { GatewayMetrics } from './metrics.js';

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

interface Session {
  id: string;
  dataFlow: ServedDataFlow;
  receiver: Receiver;
  identity: string;
  /** Fingerprint of the certificate that opened the session; bulk connections must match it. */
  fingerprint: string;
  policy: SealPolicy;
  lastUsed: number;
}

export interface Gateway {
  port: number;
  sites: Sites;
  close(): Promise<void>;
}

function peerOf(socket: TLSSocket): { identities: string[]; fingerprint: string } {
  const cert = socket.getPeerCertificate();
  return { identities: identitiesOf(cert), fingerprint: cert?.fingerprint256 ?? '' };
}

/** A view of decoded bytes as a Buffer, without copying them. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { log } = options;
  const sites = new Sites(options.dataFlows);
  const sessions = new Map<string, Session>();
  const idleMs = options.sessionIdleMs ?? 10 * 60_000;

  const session = (request: Record<string, unknown>, call?: UnaryCall): Session => {
    const id = typeof request['session_id'] === 'string' ? request['session_id'] : '';
    const s = sessions.get(id);
    if (!s) throw new StatusError(status.NOT_FOUND, `unknown session "${id}" (expired, or the gateway restarted): say hello again`);
    if (call) {
      const cert = call.getAuthContext().sslPeerCertificate;
      if (cert?.fingerprint256 !== s.fingerprint) throw new StatusError(status.PERMISSION_DENIED, `session ${id} belongs to another certificate`);
    }
    s.lastUsed = Date.now();
    return s;
  };

  const hello = (request: Record<string, unknown>, call: UnaryCall): Record<string, unknown> => {
    const cert = call.getAuthContext().sslPeerCertificate;
    const identities = identitiesOf(cert);
    if (!cert || identities.length === 0) throw new StatusError(status.UNAUTHENTICATED, 'a client certificate with a name is required');
    const version = Number(request['protocol_version']);
    if (version !== PROTOCOL_VERSION) throw failedPrecondition(`protocol version ${version} is not supported (this gateway speaks ${PROTOCOL_VERSION})`);
    const name = typeof request['data_flow'] === 'string' ? request['data_flow'] : '';
    const dataFlow = sites.find(name);
    if (!dataFlow) throw notFound(`dataflow "${name}" is not served by this gateway`);
    if (!acceptsFrom(dataFlow, identities)) {
      throw new StatusError(status.PERMISSION_DENIED, `${identities.join(', ')} is not a peer of dataflow ${name} that may send to it (its peers with direction pull: ${dataFlow.peers.filter((p) => p.direction === 'pull').map((p) => p.name).join(', ') || 'none'})`);
    }
    const policy = (request['policy'] ?? {}) as { compression?: string; encryption?: string; key_check?: string };
    if (!COMPRESSIONS.includes(policy.compression as Compression)) throw invalidArgument(`policy.compression: unknown compression "${policy.compression}"`);
    if (policy.encryption !== dataFlow.encryption) {
      throw failedPrecondition(`policy.encryption: the sender uses ${policy.encryption}, dataflow ${name} at this site uses ${dataFlow.encryption}`);
    }
    const local: SealPolicy = { compression: policy.compression as Compression, encryption: dataFlow.encryption, key: dataFlow.key };
    if ((policy.key_check ?? '') !== keyCheck(local)) throw failedPrecondition(`policy.encryption: the sender's key for dataflow ${name} differs from this site's (check both sites' keySecretRef)`);
    const receiver = sites.receiver(dataFlow);
    const id = randomUUID();
    sessions.set(id, { id, dataFlow, receiver, identity: identities[0]!, fingerprint: cert.fingerprint256, policy: local, lastUsed: Date.now() });
    log.info({ session: id, dataFlow: name, peer: identities[0], site: request['site'] }, 'sync session opened');
    return { session_id: id, root: receiver.root ? raw(receiver.root) : Buffer.alloc(0), protocol_version: PROTOCOL_VERSION };
  };

  const hashesOf = (request: Record<string, unknown>): string[] => ((request['hashes'] ?? []) as Uint8Array[]).map(hex);

  const handlers: Record<string, (request: Record<string, unknown>, call: UnaryCall) => Record<string, unknown>> = {
    Hello: hello,
    MissingNodes: (request, call) => ({ hashes: session(request, call).receiver.missingNodes(hashesOf(request)).map(raw) }),
    MissingChunks: (request, call) => {
      const root = request['root'] as Uint8Array | undefined;
      return { hashes: session(request, call).receiver.missingChunks(hashesOf(request), root?.length ? hex(root) : undefined).map(raw) };
    },
    PutNodes: (request, call) => {
      const s = session(request, call);
      for (const node of (request['nodes'] ?? []) as { hash: Uint8Array; content: Uint8Array }[]) {
        try {
          s.receiver.putNode(hex(node.hash), Buffer.from(node.content));
        } catch (error) {
          throw invalidArgument(`nodes: ${(error as Error).message}`);
        }
      }
      return {};
    },
    Commit: (request, call) => {
      const s = session(request, call);
      const root = hex(request['root'] as Uint8Array);
      const result = s.receiver.commit(root);
      if (result.applied) {
        log.info({ session: s.id, dataFlow: s.dataFlow.name, root, files: result.files }, 'version committed');
        options.metrics?.commits.inc({ dataflow: s.dataFlow.name });
      }
      return { applied: result.applied, missing_chunks: result.missingChunks.map(raw), missing_nodes: result.missingNodes.map(raw), files_written: result.files ?? 0 };
    },
  };

  const grpc = new Server({ 'grpc.max_receive_message_length': 256 * 1024 * 1024, 'grpc.max_send_message_length': 256 * 1024 * 1024 });
  const implementation: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    const unary: Handler = (request, call) => Promise.resolve().then(() => handler(request, call));
    implementation[method] = wrapUnary(method, unary, log, { message: 'sync call', level: 'debug', describe: () => undefined });
  }
  grpc.addService(syncClient().service, implementation);
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
    if (socket.alpnProtocol === BULK_ALPN) handleBulk(socket);
    else if (socket.alpnProtocol === 'h2') injector.injectConnection(socket);
    else socket.destroy();
  });

  function handleBulk(socket: TLSSocket): void {
    const peer = peerOf(socket);
    const reader = new FrameReader();
    let current: Session | undefined;
    let acks: Buffer[] = [];
    let flushScheduled = false;
    const fail = (message: string) => {
      log.warn({ peer: peer.identities[0], session: current?.id, reason: message }, 'bulk stream rejected');
      options.metrics?.rejectedStreams.inc();
      socket.end(encodeFrame({ error: { message } }));
      socket.destroySoon();
    };
    const flushAcks = () => {
      flushScheduled = false;
      if (!acks.length || socket.destroyed) return;
      socket.write(encodeFrame({ ack: { hashes: acks } }));
      acks = [];
    };
    socket.on('data', (data: Buffer) => {
      let frames: Buffer[];
      try {
        frames = reader.push(data);
      } catch (error) {
        return fail((error as Error).message);
      }
      for (const body of frames) {
        const frame = decodeFrame(body);
        if (frame.open) {
          const s = sessions.get(frame.open.session_id);
          if (!s) return fail(`unknown session "${frame.open.session_id}": say hello again`);
          if (s.fingerprint !== peer.fingerprint) return fail(`session ${s.id} belongs to another certificate`);
          current = s;
        } else if (frame.chunk) {
          if (!current) return fail('chunk before open');
          const hash = hex(frame.chunk.hash);
          let data: Buffer;
          try {
            data = openChunk(asBuffer(frame.chunk.payload), frame.chunk.codec as Compression, hash, current.policy, chunkHash);
          } catch (error) {
            return fail(error instanceof ChunkRejected ? error.message : `chunk ${hash}: ${(error as Error).message}`);
          }
          try {
            current.receiver.putChunk(hash, data);
          } catch (error) {
            log.error({ err: error, dataFlow: current.dataFlow.name }, 'cannot store a chunk');
            return fail(`chunk ${hash}: the gateway cannot store it: ${(error as Error).message}`);
          }
          current.lastUsed = Date.now();
          options.metrics?.chunkBytes.inc({ dataflow: current.dataFlow.name }, data.length);
          options.metrics?.wireBytes.inc({ dataflow: current.dataFlow.name }, body.length);
          acks.push(Buffer.from(frame.chunk.hash));
          if (!flushScheduled) {
            flushScheduled = true;
            setImmediate(flushAcks);
          }
        } else {
          return fail('unexpected frame from the sender');
        }
      }
    });
    socket.on('end', () => {
      if (reader.pending) log.warn({ peer: peer.identities[0], session: current?.id, bytes: reader.pending }, 'bulk stream ended inside a frame; the partial chunk was discarded');
      socket.end();
    });
    socket.on('error', (error: Error) => log.debug({ err: error.message }, 'bulk connection error'));
  }

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const [id, s] of sessions) if (now - s.lastUsed > idleMs) sessions.delete(id);
    sites.purge();
  }, Math.min(idleMs, 60_000));
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
