/**
 * What every session with a peer's gateway shares, whether it writes (client.ts) or reads
 * (read-client.ts, docs/architecture.md#reads-access-cache): the gRPC channel (mTLS, the gateway's
 * certificate checked against the peer's name, keepalive pings that fail a call on a dead link),
 * the wait for the connection, the Hello, and how a failed call becomes a TransferError that
 * says whether a retry can help.
 */
import { connect as tlsConnect } from 'node:tls';
import {
  connectivityState,
  credentials,
  Metadata,
  status,
  type CallOptions,
  type Client,
  type ClientUnaryCall,
  type requestCallback,
  type ServiceError,
} from '@grpc/grpc-js';
import type { Hash } from '../engine/manifest.js';
import { TransferError } from '../engine/push.js';
import { keyCheck, type SealPolicy } from '../engine/seal.js';
import {
  BULK_ALPN,
  encodeFrame,
  hex,
  PROTOCOL_VERSION,
  syncClient,
  type SyncClient,
  type SyncMethod,
  type SyncRequest,
  type SyncResponseReceived,
} from './protocol.js';
import { expectIdentity, type TlsMaterial } from './tls.js';

export interface PeerTarget {
  /** The identity the gateway's certificate must carry. */
  name: string;
  /** host:port of the gateway. */
  endpoint: string;
  /** "<namespace>/<name>" of the DataFlow at the peer. */
  remoteDataFlow: string;
}

/** What opening a session takes, read or write. */
export interface ChannelOptions {
  tls: TlsMaterial;
  /** This site, for the gateway's logs. */
  site: string;
  policy: SealPolicy;
  /** Deadline of each unary call. Default 120 s. */
  callTimeoutMs?: number;
  /** The gateway must accept a connection (TCP and TLS) within this. Default 15 s. */
  connectTimeoutMs?: number;
  /** A call whose connection stops answering pings fails after this. Default 30 s. */
  stallTimeoutMs?: number;
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
export const DEFAULT_STALL_TIMEOUT_MS = 30_000;
export const DEFAULT_CALL_TIMEOUT_MS = 120_000;
/**
 * HTTP/2 flow-control window of a read session's channel (per stream and per connection): what
 * the gateway may send ahead of the reader, so a long link stays full (16 MiB: ~160 MiB/s at
 * 100 ms round trip). The reader buffers at most this much per stream.
 */
const READ_WINDOW_BYTES = 16 * 1024 * 1024;
export const seconds = (ms: number): string => `${+(ms / 1000).toFixed(1)} s`;

/** Codes a retry will not change: the pass (or read) fails for good until something is fixed. */
const NOT_RETRYABLE = new Set([
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.FAILED_PRECONDITION,
  status.INVALID_ARGUMENT,
  status.UNIMPLEMENTED,
]);

export function splitEndpoint(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(i + 1)) };
}

/** A failed call as a TransferError naming the method, retryable unless the code says it will not change. */
export function callFailure(method: SyncMethod, error: ServiceError): TransferError {
  return new TransferError(`${method}: ${error.details || error.message}`, !NOT_RETRYABLE.has(error.code), undefined, {
    cause: error,
  });
}

/** An open session: its channel (the caller closes it), id, and the root the gateway answered with. */
export interface OpenedSession {
  client: SyncClient;
  sessionId: string;
  /** Hex; undefined when the gateway holds no version yet (write sessions). */
  root: Hash | undefined;
}

/**
 * Connects to the gateway and says hello, opening a write session or (read) a read session; throws
 * TransferError (retryable or not) naming the cause, after closing the channel.
 */
export async function openSession(target: PeerTarget, options: ChannelOptions, read: boolean): Promise<OpenedSession> {
  const Ctor = syncClient();
  const creds = credentials.createSsl(options.tls.ca, options.tls.key, options.tls.cert, {
    checkServerIdentity: expectIdentity(target.name),
  });
  // While a call is open, a ping every half stall timeout: a cut link fails the call within the
  // stall timeout instead of at the call's deadline.
  const keepaliveMs = Math.max(500, Math.round((options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS) / 2));
  const client = new Ctor(target.endpoint, creds, {
    'grpc.keepalive_time_ms': keepaliveMs,
    'grpc.keepalive_timeout_ms': keepaliveMs,
    'grpc.ssl_target_name_override': target.name,
    'grpc.max_receive_message_length': 256 * 1024 * 1024,
    'grpc.max_send_message_length': 256 * 1024 * 1024,
    // A read session's chunks come down this channel: HTTP/2's default 64 KiB window would cap a
    // 20 ms link at about 2 MiB/s (measured); this one keeps it near what the link carries.
    ...(read ? { 'grpc-node.flow_control_window': READ_WINDOW_BYTES } : {}),
  });
  try {
    // A cut link drops packets without a word: without this, the Hello would wait for its deadline.
    await connected(client, target, options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS);
    const hello = await call(
      client,
      'Hello',
      {
        protocol_version: PROTOCOL_VERSION,
        data_flow: target.remoteDataFlow,
        site: options.site,
        policy: {
          compression: options.policy.compression,
          encryption: options.policy.encryption,
          key_check: keyCheck(options.policy),
        },
        read,
      },
      options.callTimeoutMs,
    );
    return { client, sessionId: hello.session_id, root: hello.root.length ? hex(hello.root) : undefined };
  } catch (error) {
    client.close();
    // gRPC reports a refused handshake as "failed to connect"; a plain TLS dial says why.
    const cause = (error as { cause?: ServiceError }).cause;
    if (cause?.code === status.UNAVAILABLE) {
      const why = await probeTls(target, options.tls);
      if (why) throw new TransferError(`${(error as Error).message} (TLS: ${why})`, true, undefined, { cause: error });
    }
    throw error;
  }
}

/**
 * Waits until the channel to the gateway is up, or has failed (the Hello then fails at once and
 * says why: a refused certificate, a refused connection). Throws when it is still connecting after
 * `timeoutMs`: nothing answered at all.
 */
async function connected(client: Client, target: PeerTarget, timeoutMs: number): Promise<void> {
  const channel = client.getChannel();
  const deadline = Date.now() + timeoutMs;
  let state = channel.getConnectivityState(true);
  while (state === connectivityState.IDLE || state === connectivityState.CONNECTING) {
    const from = state;
    const changed = await new Promise<boolean>((resolve) =>
      channel.watchConnectivityState(from, deadline, (error) => resolve(!error)),
    );
    if (!changed)
      throw new TransferError(
        `peer ${target.name} at ${target.endpoint} did not answer within ${seconds(timeoutMs)} (unreachable: a cut link, no route, or packets dropped on the way)`,
        true,
      );
    state = channel.getConnectivityState(true);
  }
}

/** Dials the gateway with TLS only; returns the handshake error, or undefined when it succeeds. */
function probeTls(target: PeerTarget, tls: TlsMaterial): Promise<string | undefined> {
  const { host, port } = splitEndpoint(target.endpoint);
  return new Promise((resolve) => {
    const socket = tlsConnect({
      host,
      port,
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      ALPNProtocols: [BULK_ALPN],
      checkServerIdentity: expectIdentity(target.name),
      servername: target.name,
    });
    socket.setTimeout(10_000, () => socket.destroy(new Error('TLS handshake timed out')));
    // TLS 1.3 clients learn of a rejected certificate only after the handshake: wait for the alert.
    socket.once('secureConnect', () => {
      socket.resume();
      socket.write(encodeFrame({ open: { session_id: '' } })); // provokes the server's verdict on our certificate
      const timer = setTimeout(() => (socket.destroy(), resolve(undefined)), 500);
      // A gateway that rejects our certificate closes right after the handshake, without an alert.
      socket.once('close', () => {
        clearTimeout(timer);
        resolve(
          `the gateway closed the connection after the handshake: it does not accept this site's certificate (is tls.crt signed by a CA the peer trusts?)`,
        );
      });
    });
    socket.once('error', (error: Error) => resolve(error.message));
  });
}

/** One unary call of the Sync service with a deadline; a failure becomes a TransferError (callFailure). */
export function call<M extends SyncMethod>(
  client: SyncClient,
  method: M,
  request: SyncRequest<M>,
  timeoutMs = DEFAULT_CALL_TIMEOUT_MS,
): Promise<SyncResponseReceived<M>> {
  // The generated client declares each method with overloads; this is the one every unary method has.
  const fn = client[method] as unknown as (
    request: SyncRequest<M>,
    metadata: Metadata,
    options: CallOptions,
    callback: requestCallback<SyncResponseReceived<M>>,
  ) => ClientUnaryCall;
  return new Promise((resolve, reject) => {
    fn.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
      if (!error) return resolve(response!);
      reject(callFailure(method, error));
    });
  });
}
