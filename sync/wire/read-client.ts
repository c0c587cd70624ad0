/**
 * The reading side of the sync protocol (docs/architecture.md#reads-access-cache): a read session
 * with a peer's gateway, then the manifest nodes and chunks of the version the peer publishes, on
 * demand. Nothing is trusted: every node is checked against its hash and parsed, and every chunk
 * is opened (AES-GCM with its hash as associated data), decompressed and checked against its hash
 * before it is handed out. The channel, Hello, timeouts and error classes are channel.ts's.
 */
import { Metadata, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { chunkHash } from '../engine/chunker.js';
import { decodeNode, type Hash } from '../engine/manifest.js';
import { TransferError } from '../engine/push.js';
import { ChunkRejected, openChunk, type Compression } from '../engine/seal.js';
import {
  call,
  callFailure,
  DEFAULT_CALL_TIMEOUT_MS,
  openSession,
  type ChannelOptions,
  type PeerTarget,
} from './channel.js';
import { FETCH_CHUNKS_MAX, GET_NODES_MAX, hex, raw, type ChunkFrame__Output, type SyncClient } from './protocol.js';

/** A read session with a peer's gateway. Calls may run concurrently; close() ends them all. */
export interface RemoteReader {
  /** The root (hex) of the version read: the peer's published version, as this site may see it. */
  readonly root: Hash;
  /**
   * Manifest nodes by hash, each checked against its hash and parsed (engine/manifest.ts
   * decodeNode). Any number of hashes (sent in batches). Throws TransferError: not retryable when
   * a node is outside the version (NOT_FOUND, naming it) or fails its check.
   */
  getNodes(hashes: Hash[]): Promise<Map<Hash, Buffer>>;
  /**
   * The chunks, in the order asked for, each opened, decompressed and checked against its hash
   * before it is yielded. Any number of hashes (FetchChunks calls of at most FETCH_CHUNKS_MAX).
   * Throws TransferError: a chunk whose file changed since the version was published fails with
   * "changed since version" (read the new version); a chunk that fails its check is not retryable.
   * Breaking out of the loop cancels the call.
   */
  fetchChunks(hashes: Hash[]): AsyncIterable<{ hash: Hash; data: Buffer }>;
  /** The root a new session would read now (this session keeps reading `root`). */
  currentRoot(): Promise<Hash>;
  close(): void;
}

/** Options of a read session: the channel's (the policy's compression is what the gateway applies). */
export type ReadOptions = ChannelOptions;

/** Opens a read session of `target.remoteDataFlow` at the peer; throws TransferError naming the cause. */
export async function openRead(target: PeerTarget, options: ReadOptions): Promise<RemoteReader> {
  const { client, sessionId, root } = await openSession(target, options, true);
  if (!root) {
    client.close();
    throw new TransferError(`Hello: peer ${target.name} opened a read session without a root`, false);
  }
  return new WireReader(client, target, options, sessionId, root);
}

class WireReader implements RemoteReader {
  constructor(
    private readonly client: SyncClient,
    private readonly target: PeerTarget,
    private readonly options: ReadOptions,
    private readonly sessionId: string,
    readonly root: Hash,
  ) {}

  async currentRoot(): Promise<Hash> {
    const r = await call(this.client, 'Root', { session_id: this.sessionId, hashes: [] }, this.options.callTimeoutMs);
    return hex(r.root);
  }

  async getNodes(hashes: Hash[]): Promise<Map<Hash, Buffer>> {
    const wanted = [...new Set(hashes)];
    const out = new Map<Hash, Buffer>();
    for (let i = 0; i < wanted.length; i += GET_NODES_MAX) {
      const batch = wanted.slice(i, i + GET_NODES_MAX);
      const r = await call(
        this.client,
        'GetNodes',
        { session_id: this.sessionId, hashes: batch.map(raw) },
        this.options.callTimeoutMs,
      );
      const asked = new Set(batch);
      for (const node of r.nodes) {
        const hash = hex(node.hash);
        const content = Buffer.from(node.content);
        if (!asked.has(hash)) throw this.refused(`GetNodes: node ${hash} was not asked for`);
        try {
          decodeNode(content, hash); // checks hashBytes(content) === hash, then parses it
        } catch (error) {
          throw this.refused(`GetNodes: ${(error as Error).message}`, error);
        }
        out.set(hash, content);
      }
      const missing = batch.filter((hash) => !out.has(hash));
      if (missing.length) throw this.refused(`GetNodes: ${missing.length} nodes not returned, e.g. ${missing[0]}`);
    }
    return out;
  }

  async *fetchChunks(hashes: Hash[]): AsyncGenerator<{ hash: Hash; data: Buffer }> {
    for (let i = 0; i < hashes.length; i += FETCH_CHUNKS_MAX)
      yield* this.fetchBatch(hashes.slice(i, i + FETCH_CHUNKS_MAX));
  }

  /** One FetchChunks call: its frames, checked in request order. */
  private async *fetchBatch(batch: Hash[]): AsyncGenerator<{ hash: Hash; data: Buffer }> {
    const stream: ClientReadableStream<ChunkFrame__Output> = this.client.FetchChunks(
      { session_id: this.sessionId, hashes: batch.map(raw) },
      new Metadata(),
      { deadline: Date.now() + (this.options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS) },
    );
    let next = 0;
    try {
      for await (const frame of stream as AsyncIterable<ChunkFrame__Output>) {
        const hash = batch[next];
        const sent = hex(frame.hash);
        if (hash === undefined || sent !== hash)
          throw this.refused(`FetchChunks: got chunk ${sent} where ${hash ?? 'the end of the stream'} was due`);
        let data: Buffer;
        try {
          data = openChunk(
            Buffer.from(frame.payload),
            frame.codec as Compression,
            hash,
            this.options.policy,
            chunkHash,
          );
        } catch (error) {
          if (!(error instanceof ChunkRejected)) throw error;
          throw this.refused(`FetchChunks: ${error.message}`, error);
        }
        next++;
        yield { hash, data };
      }
    } catch (error) {
      if (error instanceof TransferError) throw error;
      if (typeof (error as ServiceError).code === 'number') throw callFailure('FetchChunks', error as ServiceError);
      throw error;
    } finally {
      if (next < batch.length) stream.cancel(); // the reader stopped early, or the stream failed
    }
    if (next < batch.length)
      throw new TransferError(
        `FetchChunks: peer ${this.target.name} ended the stream after ${next} of ${batch.length} chunks`,
        true,
      );
  }

  /** A peer's answer that fails its check: not retryable (the same peer would send it again). */
  private refused(message: string, cause?: unknown): TransferError {
    return new TransferError(`peer ${this.target.name}: ${message}`, false, undefined, { cause });
  }

  close(): void {
    this.client.close();
  }
}
