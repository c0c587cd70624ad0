/**
 * The worker's side of a session with a peer's gateway: gRPC for control, plus `parallelism` bulk
 * TLS connections for chunks. Each bulk stream keeps at most `windowBytes` unacknowledged, so a
 * cut link costs at most that much per stream again, and several streams keep a long link full.
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
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
import type { ChunkReaderLike, PeerSession } from '../engine/push.js';
import { TransferError } from '../engine/push.js';
import type { CommitResult } from '../engine/receiver.js';
import { keyCheck, sealChunkParts, type SealPolicy } from '../engine/seal.js';
import type { Bandwidth } from './bandwidth.js';
import {
  BULK_ALPN,
  chunkFrameHeader,
  decodeFrame,
  encodeFrame,
  FrameReader,
  hex,
  PROTOCOL_VERSION,
  raw,
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

export interface SessionOptions {
  tls: TlsMaterial;
  site: string;
  policy: SealPolicy;
  parallelism: number;
  /** Unacknowledged bytes allowed per bulk stream (at least one chunk is always allowed). */
  windowBytes: number;
  bandwidth?: Bandwidth;
  /** Called with the bytes of every chunk frame written (sealed size). */
  onWire?: (bytes: number, plainBytes: number) => void;
  callTimeoutMs?: number;
  /** The gateway must accept a connection (TCP and TLS) within this. Default 15 s. */
  connectTimeoutMs?: number;
  /**
   * A bulk stream with chunks unacknowledged and no acknowledgement for this long fails, and so does
   * a call whose connection stops answering pings. Default 30 s.
   */
  stallTimeoutMs?: number;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 15_000;
const DEFAULT_STALL_TIMEOUT_MS = 30_000;
const seconds = (ms: number): string => `${+(ms / 1000).toFixed(1)} s`;

const NOT_RETRYABLE = new Set([
  status.PERMISSION_DENIED,
  status.UNAUTHENTICATED,
  status.FAILED_PRECONDITION,
  status.INVALID_ARGUMENT,
  status.UNIMPLEMENTED,
]);

function splitEndpoint(endpoint: string): { host: string; port: number } {
  const i = endpoint.lastIndexOf(':');
  return { host: endpoint.slice(0, i).replace(/^\[|\]$/g, ''), port: Number(endpoint.slice(i + 1)) };
}

export class WireSession implements PeerSession {
  private constructor(
    private readonly client: SyncClient,
    private readonly target: PeerTarget,
    private readonly options: SessionOptions,
    private readonly sessionId: string,
    readonly peerRoot: Hash | undefined,
  ) {}

  /** Connects and says hello; throws TransferError (retryable or not) naming the cause. */
  static async open(target: PeerTarget, options: SessionOptions): Promise<WireSession> {
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
        },
        options.callTimeoutMs,
      );
      return new WireSession(
        client,
        target,
        options,
        hello.session_id,
        hello.root.length ? hex(hello.root) : undefined,
      );
    } catch (error) {
      client.close();
      // gRPC reports a refused handshake as "failed to connect"; a plain TLS dial says why.
      const cause = (error as { cause?: ServiceError }).cause;
      if (cause?.code === status.UNAVAILABLE) {
        const why = await probeTls(target, options.tls);
        if (why)
          throw new TransferError(`${(error as Error).message} (TLS: ${why})`, true, undefined, { cause: error });
      }
      throw error;
    }
  }

  async missingNodes(hashes: Hash[]): Promise<Hash[]> {
    const r = await call(
      this.client,
      'MissingNodes',
      { session_id: this.sessionId, hashes: hashes.map(raw) },
      this.options.callTimeoutMs,
    );
    return r.hashes.map(hex);
  }

  async putNodes(nodes: { hash: Hash; bytes: Buffer }[]): Promise<void> {
    await call(
      this.client,
      'PutNodes',
      { session_id: this.sessionId, nodes: nodes.map((n) => ({ hash: raw(n.hash), content: n.bytes })) },
      this.options.callTimeoutMs,
    );
  }

  async missingChunks(hashes: Hash[], root: Hash): Promise<Hash[]> {
    const r = await call(
      this.client,
      'MissingChunks',
      { session_id: this.sessionId, hashes: hashes.map(raw), root: raw(root) },
      this.options.callTimeoutMs,
    );
    return r.hashes.map(hex);
  }

  async commit(root: Hash): Promise<CommitResult> {
    const r = await call(
      this.client,
      'Commit',
      { session_id: this.sessionId, root: raw(root) },
      this.options.callTimeoutMs,
    );
    return {
      applied: r.applied,
      missingChunks: r.missing_chunks.map(hex),
      missingNodes: r.missing_nodes.map(hex),
      files: r.files_written,
    };
  }

  async sendChunks(hashes: Hash[], read: ChunkReaderLike): Promise<void> {
    const queue = [...new Set(hashes)];
    let next = 0;
    const streams = Math.max(1, Math.min(this.options.parallelism, queue.length));
    await Promise.all(
      Array.from({ length: streams }, () => this.stream(() => (next < queue.length ? queue[next++] : undefined), read)),
    );
  }

  /** One bulk connection: sends chunks from the shared queue until it is empty and all are acked. */
  private async stream(take: () => Hash | undefined, read: ChunkReaderLike): Promise<void> {
    const socket = await this.connectBulk();
    const unacked = new Map<Hash, number>();
    let inflight = 0;
    let failure: TransferError | undefined;
    let wake: (() => void) | undefined;
    const poke = () => {
      const w = wake;
      wake = undefined;
      w?.();
    };
    const reader = new FrameReader();
    // A stream waiting for acknowledgements that do not come (a cut link, a frozen gateway) fails
    // after stallMs without one, instead of after TCP's retransmissions give up (many minutes).
    const stallMs = this.options.stallTimeoutMs ?? DEFAULT_STALL_TIMEOUT_MS;
    let lastProgress = Date.now();
    const stallCheck = setInterval(
      () => {
        if (unacked.size === 0 || Date.now() - lastProgress < stallMs) return;
        failure ??= new TransferError(
          `no acknowledgement from ${this.target.name} for ${seconds(stallMs)} with ${unacked.size} chunks sent: the link is down or stalled`,
          true,
        );
        socket.destroy();
        poke();
      },
      Math.min(1000, Math.max(10, stallMs / 4)),
    );
    socket.on('data', (data: Buffer) => {
      lastProgress = Date.now();
      try {
        for (const body of reader.push(data)) {
          const frame = decodeFrame(body);
          if (frame.ack) {
            for (const h of frame.ack.hashes) {
              const hash = hex(h);
              inflight -= unacked.get(hash) ?? 0;
              unacked.delete(hash);
            }
          } else if (frame.error) {
            failure ??= new TransferError(`peer ${this.target.name} refused the stream: ${frame.error.message}`, false);
          }
        }
      } catch (error) {
        failure ??= new TransferError(`peer ${this.target.name}: bad frame: ${(error as Error).message}`, true);
      }
      poke();
    });
    socket.on('close', () => {
      failure ??= new TransferError(
        `bulk connection to ${this.target.name} closed with ${unacked.size} chunks unacknowledged`,
        true,
      );
      poke();
    });
    socket.on('error', (error: Error) => {
      failure ??= new TransferError(`bulk connection to ${this.target.name}: ${error.message}`, true, undefined, {
        cause: error,
      });
      poke();
    });
    const waitUntil = async (ready: () => boolean) => {
      while (!ready() && !failure) await new Promise<void>((resolve) => (wake = resolve));
      if (failure) throw failure;
    };
    try {
      socket.write(encodeFrame({ open: { session_id: this.sessionId } }));
      for (let hash = take(); hash !== undefined; hash = take()) {
        const data = await read(hash);
        const { codec, parts, length } = sealChunkParts(data, hash, this.options.policy);
        if (!parts.includes(data)) read.release?.(data); // sealed or compressed into new buffers: the read buffer is free
        const header = chunkFrameHeader(raw(hash), codec, length);
        const frameBytes = header.length + length;
        await waitUntil(() => inflight === 0 || inflight + frameBytes <= this.options.windowBytes);
        await this.options.bandwidth?.take(frameBytes);
        if (unacked.size === 0) lastProgress = Date.now(); // the wait for an acknowledgement starts now
        unacked.set(hash, frameBytes);
        inflight += frameBytes;
        socket.cork();
        let flowing = socket.write(header);
        for (const part of parts) flowing = socket.write(part);
        socket.uncork();
        if (!flowing) await drained(socket);
        this.options.onWire?.(frameBytes, data.length);
        if (failure) throw failure;
      }
      await waitUntil(() => unacked.size === 0);
    } finally {
      clearInterval(stallCheck);
      socket.destroy();
    }
  }

  private connectBulk(): Promise<TLSSocket> {
    const { host, port } = splitEndpoint(this.target.endpoint);
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({
        host,
        port,
        ca: this.options.tls.ca,
        cert: this.options.tls.cert,
        key: this.options.tls.key,
        ALPNProtocols: [BULK_ALPN],
        checkServerIdentity: expectIdentity(this.target.name),
        servername: this.target.name,
      });
      socket.setNoDelay(true);
      const connectMs = this.options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
      socket.setTimeout(connectMs, () =>
        socket.destroy(
          new Error(`no answer within ${seconds(connectMs)} (unreachable: a cut link or packets dropped)`),
        ),
      );
      socket.once('secureConnect', () => {
        socket.setTimeout(0); // from here on, the stall check watches the stream
        if (socket.alpnProtocol !== BULK_ALPN) {
          socket.destroy();
          reject(
            new TransferError(`peer ${this.target.name} at ${this.target.endpoint} does not speak ${BULK_ALPN}`, false),
          );
        } else resolve(socket);
      });
      socket.once('error', (error: Error) =>
        reject(
          new TransferError(
            `cannot open a bulk connection to ${this.target.name} at ${this.target.endpoint}: ${error.message}`,
            true,
            undefined,
            { cause: error },
          ),
        ),
      );
    });
  }

  close(): void {
    this.client.close();
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

/** Resolves when the socket can take more data, or is closed (the caller then sees the failure). */
function drained(socket: TLSSocket): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
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

/** One unary call of the Sync service with a deadline; a failure becomes a TransferError, retryable unless the code says it will not change. */
function call<M extends SyncMethod>(
  client: SyncClient,
  method: M,
  request: SyncRequest<M>,
  timeoutMs = 120_000,
): Promise<SyncResponseReceived<M>> {
  // The generated client declares each method with overloads; this is the one every method has.
  const fn = client[method] as unknown as (
    request: SyncRequest<M>,
    metadata: Metadata,
    options: CallOptions,
    callback: requestCallback<SyncResponseReceived<M>>,
  ) => ClientUnaryCall;
  return new Promise((resolve, reject) => {
    fn.call(client, request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) => {
      if (!error) return resolve(response!);
      reject(
        new TransferError(`${method}: ${error.details || error.message}`, !NOT_RETRYABLE.has(error.code), undefined, {
          cause: error,
        }),
      );
    });
  });
}
