/**
 * The gateway's side of a bulk connection (ALPN "kmesh-bulk/1", proto/kmesh/sync/v1/sync.proto,
 * BulkFrame): an `open` frame joins a write session opened by the same certificate, then each `chunk`
 * frame is opened (decrypted, decompressed, checked against its hash), stored by the session's
 * receiver and acknowledged; acks are batched per event-loop turn. Anything wrong ends the stream
 * with one `error` frame.
 */
import type { TLSSocket } from 'node:tls';
import type { Logger } from '../../lib/logging.js';
import { chunkHash } from '../engine/chunker.js';
import { ChunkRejected, openChunk, type Compression } from '../engine/seal.js';
import { decodeFrame, encodeFrame, FrameReader, hex } from '../wire/protocol.js';
import type { GatewayMetrics } from './metrics.js';
import { peerOf, type Sessions, type WriteSession } from './sessions.js';

export interface BulkOptions {
  sessions: Sessions;
  log: Logger;
  metrics?: GatewayMetrics;
}

/** Serves one bulk connection until the sender ends it or a frame is refused. */
export function serveBulk(socket: TLSSocket, options: BulkOptions): void {
  const { sessions, log, metrics } = options;
  const peer = peerOf(socket.getPeerCertificate());
  const reader = new FrameReader();
  let current: WriteSession | undefined;
  let acks: Buffer[] = [];
  let flushScheduled = false;
  /** Set once the stream is refused: nothing that arrives after that is handled. */
  let failed = false;
  const fail = (message: string) => {
    failed = true;
    log.warn({ peer: peer.identities[0], session: current?.id, reason: message }, 'bulk stream rejected');
    metrics?.rejectedStreams.inc();
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
    if (failed || socket.destroyed) return;
    let frames: Buffer[];
    try {
      frames = reader.push(data);
    } catch (error) {
      return fail((error as Error).message);
    }
    for (const body of frames) {
      let frame: ReturnType<typeof decodeFrame>;
      try {
        frame = decodeFrame(body);
      } catch (error) {
        // A peer's malformed frame ends its stream, never the gateway.
        return fail(`malformed frame: ${(error as Error).message}`);
      }
      if (frame.open) {
        try {
          current = sessions.claimWrite(frame.open.session_id, peer.fingerprint);
        } catch (error) {
          return fail((error as Error).message);
        }
      } else if (frame.chunk) {
        if (!current) return fail('chunk before open');
        const hash = hex(frame.chunk.hash);
        let data: Buffer;
        try {
          data = openChunk(frame.chunk.payload, frame.chunk.codec as Compression, hash, current.policy, chunkHash);
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
        metrics?.chunkBytes.inc({ dataflow: current.dataFlow.name }, data.length);
        metrics?.wireBytes.inc({ dataflow: current.dataFlow.name }, body.length);
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
    if (reader.pending)
      log.warn(
        { peer: peer.identities[0], session: current?.id, bytes: reader.pending },
        'bulk stream ended inside a frame; the partial chunk was discarded',
      );
    socket.end();
  });
  socket.on('error', (error: Error) => log.debug({ err: error.message }, 'bulk connection error'));
}
