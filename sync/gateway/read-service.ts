/**
 * The gateway's read handlers (proto/kmesh/sync/v1/sync.proto, service Sync: GetNodes and
 * FetchChunks): a peer this site sends to reads the version the site publishes, lazily
 * (docs/architecture.md#reads-access-cache). Each call must come from the certificate that
 * opened its read session (control-service.ts, Hello with read true) and sees only that
 * session's view: the nodes reachable from its root and the chunks of its files.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import { invalidArgument } from '../../lib/errors.js';
import { wrapServerStream, wrapUnary, type UnaryCall } from '../../lib/grpc-unary.js';
import type { Logger } from '../../lib/logging.js';
import { sealChunk } from '../engine/seal.js';
import type { SyncHandlers } from '../wire/generated/kmesh/sync/v1/Sync.js';
import {
  FETCH_CHUNKS_MAX,
  GET_NODES_MAX,
  hex,
  PROTOCOL_VERSION,
  raw,
  type SyncRequestReceived,
  type SyncResponse,
} from '../wire/protocol.js';
import type { GatewayMetrics } from './metrics.js';
import type { Published } from './published.js';
import { peerOf, type ReadSession, type Sessions } from './sessions.js';

export interface ReadServiceOptions {
  sessions: Sessions;
  published: Published;
  log: Logger;
  metrics?: GatewayMetrics;
}

type HashList = SyncRequestReceived<'GetNodes'>;
type FetchCall = ServerWritableStream<SyncRequestReceived<'FetchChunks'>, SyncResponse<'FetchChunks'>>;

/** The hashes of a request, hex; INVALID_ARGUMENT when there are more than `max` or one is not a hash. */
function hashesOf(request: HashList, max: number, method: string): string[] {
  if (request.hashes.length > max)
    throw invalidArgument(`${method}: ${request.hashes.length} hashes asked for, at most ${max} per call`);
  return request.hashes.map((h, i) => {
    if (h.length !== 32) throw invalidArgument(`${method}: hashes[${i}] is ${h.length} bytes, not a SHA-256`);
    return hex(h);
  });
}

/** The Sync service's read methods, merged into the service object by control-service.ts. */
export function readService(options: ReadServiceOptions): Pick<SyncHandlers, 'GetNodes' | 'FetchChunks' | 'Root'> {
  const { sessions, published, log, metrics } = options;

  /** The call's read session, checked against the caller's certificate, marked used. */
  const session = (request: { session_id: string }, call: { getAuthContext: FetchCall['getAuthContext'] }) => {
    const s = sessions.claimRead(request.session_id, peerOf(call.getAuthContext().sslPeerCertificate).fingerprint);
    s.lastUsed = Date.now();
    return s;
  };

  /** GetNodes: the encoded nodes, in request order; NOT_FOUND names the first outside the view. */
  const getNodes = (
    request: HashList,
    call: UnaryCall<HashList, SyncResponse<'GetNodes'>>,
  ): SyncResponse<'GetNodes'> => {
    const { view } = session(request, call);
    const hashes = hashesOf(request, GET_NODES_MAX, 'GetNodes');
    return { nodes: hashes.map((hash) => ({ hash: raw(hash), content: view.node(hash) })) };
  };

  /**
   * FetchChunks: each chunk read from the tree and checked (PublishedView.reader), sealed with the
   * session's policy as bulk frames are (engine/seal.ts), and written in request order, waiting
   * whenever the stream's buffer is full. Stops when the reader cancels.
   */
  const fetchChunks = async (call: FetchCall): Promise<void> => {
    const s: ReadSession = session(call.request, call);
    const hashes = hashesOf(call.request, FETCH_CHUNKS_MAX, 'FetchChunks');
    const reader = s.view.reader();
    try {
      for (const hash of hashes) {
        if (call.cancelled) return;
        const data = await reader.read(hash);
        const { codec, payload } = sealChunk(data, hash, s.policy);
        s.lastUsed = Date.now();
        metrics?.servedBytes.inc({ dataflow: s.dataFlow.name }, data.length);
        if (!call.write({ hash: raw(hash), codec, payload })) await drained(call);
      }
    } finally {
      await reader.close();
    }
  };

  /** Root: the root a new read session would get now; the session keeps its own. */
  const root = (request: HashList, call: UnaryCall<HashList, SyncResponse<'Root'>>): SyncResponse<'Root'> => {
    const s = session(request, call);
    const view = published.view(s.dataFlow, s.paths);
    return { session_id: s.id, root: raw(view.root), protocol_version: PROTOCOL_VERSION };
  };

  const describe = (request: HashList) => ({ hashes: request.hashes.length });
  return {
    GetNodes: wrapUnary<HashList, SyncResponse<'GetNodes'>>(
      'GetNodes',
      (request, call) => Promise.resolve().then(() => getNodes(request, call)),
      log,
      { message: 'sync call', level: 'debug', describe },
    ),
    FetchChunks: wrapServerStream('FetchChunks', fetchChunks, log, { message: 'sync call', level: 'debug', describe }),
    Root: wrapUnary<HashList, SyncResponse<'Root'>>(
      'Root',
      (request, call) => Promise.resolve().then(() => root(request, call)),
      log,
      { message: 'sync call', level: 'debug', describe: () => undefined },
    ),
  };
}

/** Resolves when the stream takes more frames, or is closed (the loop then sees it cancelled). */
function drained(call: FetchCall): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      call.off('drain', done);
      call.off('close', done);
      call.off('cancelled', done);
      resolve();
    };
    call.on('drain', done);
    call.on('close', done);
    call.on('cancelled', done);
  });
}
