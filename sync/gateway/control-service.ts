/**
 * The gateway's gRPC control service (proto/kmesh/sync/v1/sync.proto, service Sync): Hello admits a
 * peer and opens a session; in a write session MissingNodes, PutNodes, MissingChunks and Commit
 * act on the session's receiver; a read session reads the published version (read-service.ts,
 * docs/architecture.md#reads-access-cache). Each call must come from the certificate that opened
 * its session.
 */
import { status } from '@grpc/grpc-js';
import { failedPrecondition, invalidArgument, notFound, StatusError } from '../../lib/errors.js';
import { wrapUnary, type UnaryCall } from '../../lib/grpc-unary.js';
import type { Logger } from '../../lib/logging.js';
import { COMPRESSIONS, keyCheck, type SealPolicy } from '../engine/seal.js';
import type { SyncHandlers } from '../wire/generated/kmesh/sync/v1/Sync.js';
import {
  hex,
  PROTOCOL_VERSION,
  raw,
  type SyncMethod,
  type SyncRequestReceived,
  type SyncResponse,
} from '../wire/protocol.js';
import type { GatewayMetrics } from './metrics.js';
import type { Published } from './published.js';
import { readService } from './read-service.js';
import { authenticatedPeer, peerOf, type Sessions, type WriteSession } from './sessions.js';
import { acceptsFrom, readerEntry, type PeerDirection, type ServedDataFlow, type Sites } from './sites.js';

export interface ControlServiceOptions {
  sites: Sites;
  sessions: Sessions;
  /** The versions read sessions read. */
  published: Published;
  log: Logger;
  metrics?: GatewayMetrics;
}

/**
 * A handler of method M: its request as received, its response as generated from the .proto.
 * Each handler below also names its return type, so a misspelt response field is an error.
 */
type ControlHandler<M extends SyncMethod> = (
  request: SyncRequestReceived<M>,
  call: UnaryCall<SyncRequestReceived<M>, SyncResponse<M>>,
) => SyncResponse<M>;

/** Peers of the DataFlow with `direction`, for a refusal's message. */
const peersWith = (dataFlow: ServedDataFlow, direction: PeerDirection): string =>
  dataFlow.peers
    .filter((p) => p.direction === direction)
    .map((p) => p.name)
    .join(', ') || 'none';

/**
 * The sealing policy of a session: the caller's compression, and the DataFlow's encryption and key,
 * which the caller must use too (FAILED_PRECONDITION otherwise, naming what differs).
 */
function agreedPolicy(request: SyncRequestReceived<'Hello'>, dataFlow: ServedDataFlow): SealPolicy {
  const name = dataFlow.name;
  const policy = request.policy; // null when the caller sent none
  const compression = COMPRESSIONS.find((c) => c === policy?.compression);
  if (!policy || !compression)
    throw invalidArgument(`policy.compression: unknown compression "${policy?.compression}"`);
  const caller = request.read ? 'reader' : 'sender';
  if (policy.encryption !== dataFlow.encryption) {
    throw failedPrecondition(
      `policy.encryption: the ${caller} uses ${policy.encryption}, dataflow ${name} at this site uses ${dataFlow.encryption}`,
    );
  }
  const local: SealPolicy = { compression, encryption: dataFlow.encryption, key: dataFlow.key };
  if (policy.key_check !== keyCheck(local))
    throw failedPrecondition(
      `policy.encryption: the ${caller}'s key for dataflow ${name} differs from this site's (check both sites' keySecretRef)`,
    );
  return local;
}

/** The Sync service's implementation, for `Server.addService(syncClient().service, …)`. */
export function controlService(options: ControlServiceOptions): SyncHandlers {
  const { sites, sessions, published, log } = options;

  /** The call's write session, checked against the caller's certificate, marked used. */
  const session = (request: { session_id: string }, call: UnaryCall<unknown, unknown>): WriteSession => {
    const s = sessions.claimWrite(request.session_id, peerOf(call.getAuthContext().sslPeerCertificate).fingerprint);
    s.lastUsed = Date.now();
    return s;
  };

  const hello: ControlHandler<'Hello'> = (request, call): SyncResponse<'Hello'> => {
    const peer = authenticatedPeer(call.getAuthContext().sslPeerCertificate);
    const version = request.protocol_version;
    if (version !== PROTOCOL_VERSION)
      throw failedPrecondition(
        `protocol version ${version} is not supported (this gateway speaks ${PROTOCOL_VERSION})`,
      );
    const name = request.data_flow;
    const dataFlow = sites.find(name);
    if (!dataFlow) throw notFound(`dataflow "${name}" is not served by this gateway`);
    if (request.read) {
      const entry = readerEntry(dataFlow, peer.identities);
      if (!entry)
        throw new StatusError(
          status.PERMISSION_DENIED,
          `${peer.identities.join(', ')} is not a peer of dataflow ${name} that may read it (the peers it sends to, direction push, may: ${peersWith(dataFlow, 'push')})`,
        );
      const policy = agreedPolicy(request, dataFlow);
      const view = published.view(dataFlow, entry.paths);
      const s = sessions.open({
        read: true,
        dataFlow,
        view,
        paths: entry.paths,
        identity: peer.identity,
        fingerprint: peer.fingerprint,
        policy,
      });
      log.info(
        { session: s.id, dataFlow: name, peer: peer.identity, site: request.site, root: view.root },
        'read session opened',
      );
      return { session_id: s.id, root: raw(view.root), protocol_version: PROTOCOL_VERSION };
    }
    if (!acceptsFrom(dataFlow, peer.identities)) {
      throw new StatusError(
        status.PERMISSION_DENIED,
        `${peer.identities.join(', ')} is not a peer of dataflow ${name} that may send to it (its peers with direction pull: ${peersWith(dataFlow, 'pull')})`,
      );
    }
    const policy = agreedPolicy(request, dataFlow);
    const receiver = sites.receiver(dataFlow);
    const s = sessions.open({
      read: false,
      dataFlow,
      receiver,
      identity: peer.identity,
      fingerprint: peer.fingerprint,
      policy,
    });
    log.info({ session: s.id, dataFlow: name, peer: peer.identity, site: request.site }, 'sync session opened');
    return {
      session_id: s.id,
      root: receiver.root ? raw(receiver.root) : Buffer.alloc(0),
      protocol_version: PROTOCOL_VERSION,
    };
  };

  const missingNodes: ControlHandler<'MissingNodes'> = (request, call): SyncResponse<'MissingNodes'> => ({
    hashes: session(request, call).receiver.missingNodes(request.hashes.map(hex)).map(raw),
  });

  const missingChunks: ControlHandler<'MissingChunks'> = (request, call): SyncResponse<'MissingChunks'> => ({
    hashes: session(request, call)
      .receiver.missingChunks(request.hashes.map(hex), request.root.length ? hex(request.root) : undefined)
      .map(raw),
  });

  const putNodes: ControlHandler<'PutNodes'> = (request, call): SyncResponse<'PutNodes'> => {
    const s = session(request, call);
    for (const node of request.nodes) {
      try {
        s.receiver.putNode(hex(node.hash), Buffer.from(node.content));
      } catch (error) {
        throw invalidArgument(`nodes: ${(error as Error).message}`);
      }
    }
    return {};
  };

  const commit: ControlHandler<'Commit'> = (request, call): SyncResponse<'Commit'> => {
    const s = session(request, call);
    const root = hex(request.root);
    const result = s.receiver.commit(root);
    if (result.applied) {
      log.info({ session: s.id, dataFlow: s.dataFlow.name, root, files: result.files }, 'version committed');
      options.metrics?.commits.inc({ dataflow: s.dataFlow.name });
    }
    return {
      applied: result.applied,
      missing_chunks: result.missingChunks.map(raw),
      missing_nodes: result.missingNodes.map(raw),
      files_written: result.files ?? 0,
    };
  };

  /** One logged, status-mapped gRPC handler; a thrown StatusError keeps its code (lib/grpc-unary.ts). */
  const unary = <M extends SyncMethod>(method: M, handler: ControlHandler<M>) =>
    wrapUnary<SyncRequestReceived<M>, SyncResponse<M>>(
      method,
      (request, call) => Promise.resolve().then(() => handler(request, call)),
      log,
      { message: 'sync call', level: 'debug', describe: () => undefined },
    );

  return {
    Hello: unary('Hello', hello),
    MissingNodes: unary('MissingNodes', missingNodes),
    MissingChunks: unary('MissingChunks', missingChunks),
    PutNodes: unary('PutNodes', putNodes),
    Commit: unary('Commit', commit),
    ...readService(options),
  };
}
