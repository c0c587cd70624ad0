/**
 * The worker's side of a session with a peer's gateway: gRPC for control, plus `parallelism` bulk
 * TLS connections for chunks. Each bulk stream keeps at most `windowBytes` unacknowledged, so a
 * cut link costs at most that much per stream again, and several streams keep a long link full.
 * The channel, the Hello and the classing of failed calls are channel.ts's (shared with reads).
 */
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Hash } from '../engine/manifest.js';
import type { ChunkReaderLike, PeerSession } from '../engine/push.js';
import { TransferError } from '../engine/push.js';
import type { CommitResult } from '../engine/receiver.js';
import { sealChunkParts } from '../engine/seal.js';
import type { Bandwidth } from './bandwidth.js';
import {
  call,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_STALL_TIMEOUT_MS,
  openSession,
  seconds,
  splitEndpoint,
  type ChannelOptions,
  type PeerTarget,
} from './channel.js';
import {
  BULK_ALPN,
  chunkFrameHeader,
  decodeFrame,
  encodeFrame,
  FrameReader,
  hex,
  raw,
  type SyncClient,
} from './protocol.js';
import { expectIdentity } from './tls.js';

export type { PeerTarget } from './channel.js';

export interface SessionOptions extends ChannelOptions {
  parallelism: number;
  /** Unacknowledged bytes allowed per bulk stream (at least one chunk is always allowed). */
  windowBytes: number;
  bandwidth?: Bandwidth;
  /** Called with the bytes of every chunk frame written (sealed size). */
  onWire?: (bytes: number, plainBytes: number) => void;
  /**
   * A bulk stream with chunks unacknowledged and no acknowledgement for this long fails, and so does
   * a call whose connection stops answering pings. Default 30 s.
   */
  stallTimeoutMs?: number;
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
    const { client, sessionId, root } = await openSession(target, options, false);
    return new WireSession(client, target, options, sessionId, root);
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
