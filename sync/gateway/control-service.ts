/**
 * The gateway's gRPC control service (proto/kmesh/sync/v1/sync.proto, service Sync): Hello admits a
 * peer and opens a session; MissingNodes, PutNodes, MissingChunks and Commit act on the session's
 * receiver. Each call must come from the certificate that opened its session.
 */
import { status, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { failedPrecondition, invalidArgument, notFound, StatusError } from '../../lib/errors.js';
import { wrapUnary, type Handler, type UnaryCall } from '../../lib/grpc-unary.js';
import type { Logger } from '../../lib/logging.js';
import { COMPRESSIONS, keyCheck, type Compression, type SealPolicy } from '../engine/seal.js';
import { hex, PROTOCOL_VERSION, raw } from '../wire/protocol.js';
import type { GatewayMetrics } from './metrics.js';
import { authenticatedPeer, peerOf, type Session, type Sessions } from './sessions.js';
import { acceptsFrom, type Sites } from './sites.js';

export interface ControlServiceOptions {
  sites: Sites;
  sessions: Sessions;
  log: Logger;
  metrics?: GatewayMetrics;
}

/** The Sync service's implementation, for `Server.addService(syncClient().service, …)`. */
export function controlService(options: ControlServiceOptions): UntypedServiceImplementation {
  const { sites, sessions, log } = options;

  /** The call's session, checked against the caller's certificate, marked used. */
  const session = (request: Record<string, unknown>, call: UnaryCall): Session => {
    const id = typeof request['session_id'] === 'string' ? request['session_id'] : '';
    const s = sessions.claim(id, peerOf(call.getAuthContext().sslPeerCertificate).fingerprint);
    s.lastUsed = Date.now();
    return s;
  };

  const hello = (request: Record<string, unknown>, call: UnaryCall): Record<string, unknown> => {
    const peer = authenticatedPeer(call.getAuthContext().sslPeerCertificate);
    const version = Number(request['protocol_version']);
    if (version !== PROTOCOL_VERSION) throw failedPrecondition(`protocol version ${version} is not supported (this gateway speaks ${PROTOCOL_VERSION})`);
    const name = typeof request['data_flow'] === 'string' ? request['data_flow'] : '';
    const dataFlow = sites.find(name);
    if (!dataFlow) throw notFound(`dataflow "${name}" is not served by this gateway`);
    if (!acceptsFrom(dataFlow, peer.identities)) {
      throw new StatusError(status.PERMISSION_DENIED, `${peer.identities.join(', ')} is not a peer of dataflow ${name} that may send to it (its peers with direction pull: ${dataFlow.peers.filter((p) => p.direction === 'pull').map((p) => p.name).join(', ') || 'none'})`);
    }
    const policy = (request['policy'] ?? {}) as { compression?: string; encryption?: string; key_check?: string };
    if (!COMPRESSIONS.includes(policy.compression as Compression)) throw invalidArgument(`policy.compression: unknown compression "${policy.compression}"`);
    if (policy.encryption !== dataFlow.encryption) {
      throw failedPrecondition(`policy.encryption: the sender uses ${policy.encryption}, dataflow ${name} at this site uses ${dataFlow.encryption}`);
    }
    const local: SealPolicy = { compression: policy.compression as Compression, encryption: dataFlow.encryption, key: dataFlow.key };
    if ((policy.key_check ?? '') !== keyCheck(local)) throw failedPrecondition(`policy.encryption: the sender's key for dataflow ${name} differs from this site's (check both sites' keySecretRef)`);
    const receiver = sites.receiver(dataFlow);
    const s = sessions.open({ dataFlow, receiver, identity: peer.identity, fingerprint: peer.fingerprint, policy: local });
    log.info({ session: s.id, dataFlow: name, peer: peer.identity, site: request['site'] }, 'sync session opened');
    return { session_id: s.id, root: receiver.root ? raw(receiver.root) : Buffer.alloc(0), protocol_version: PROTOCOL_VERSION };
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

  const implementation: UntypedServiceImplementation = {};
  for (const [method, handler] of Object.entries(handlers)) {
    const unary: Handler = (request, call) => Promise.resolve().then(() => handler(request, call));
    implementation[method] = wrapUnary(method, unary, log, { message: 'sync call', level: 'debug', describe: () => undefined });
  }
  return implementation;
}
