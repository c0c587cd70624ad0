/**
 * The sync protocol's definitions (proto/kmesh/sync/v1/sync.proto), loaded once: the gRPC service
 * for control and the BulkFrame codec for chunk data. Their types are generated from the same file
 * (./generated/, `npm run generate`), so a misspelt field fails the type check.
 */
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import protobuf from 'protobufjs';
import type {
  MethodOf,
  RequestReceived,
  RequestSent,
  ResponseReceived,
  ResponseSent,
} from '../../lib/grpc-service-types.js';
import { PROTO_LOADER_OPTIONS, protoFile } from '../../lib/proto.js';
import type { BulkFrame, BulkFrame__Output } from './generated/kmesh/sync/v1/BulkFrame.js';
import type { SyncDefinition } from './generated/kmesh/sync/v1/Sync.js';
import type { ProtoGrpcType } from './generated/sync.js';

export type { BulkFrame, BulkFrame__Output } from './generated/kmesh/sync/v1/BulkFrame.js';
export type { SyncClient } from './generated/kmesh/sync/v1/Sync.js';
export type { ChunkFrame__Output } from './generated/kmesh/sync/v1/ChunkFrame.js';

export const PROTOCOL_VERSION = 1;
/** ALPN protocol of the bulk connections; gRPC control uses "h2" on the same port. */
export const BULK_ALPN = 'kmesh-bulk/1';
/** Largest bulk frame accepted: a max-size chunk plus sealing overhead, with room to spare. */
export const MAX_FRAME_BYTES = 64 * 1024 * 1024;

/** Most chunks one FetchChunks asks for (a read session); the gateway refuses more. */
export const FETCH_CHUNKS_MAX = 256;
/** Most nodes one GetNodes asks for (a read session); the gateway refuses more. */
export const GET_NODES_MAX = 8192;

const SYNC_PROTO = 'kmesh/sync/v1/sync.proto';

/**
 * A method of the Sync service: 'Hello', then 'MissingNodes', 'PutNodes', 'MissingChunks' and
 * 'Commit' (write sessions) or 'GetNodes' and 'FetchChunks' (read sessions).
 */
export type SyncMethod = MethodOf<SyncDefinition>;
/** The request of `M` as a worker sends it (fields optional; bytes as Buffer or Uint8Array). */
export type SyncRequest<M extends SyncMethod> = RequestSent<SyncDefinition, M>;
/** The request of `M` as the gateway receives it (every field present, defaults filled in). */
export type SyncRequestReceived<M extends SyncMethod> = RequestReceived<SyncDefinition, M>;
/** The response of `M` as the gateway returns it. */
export type SyncResponse<M extends SyncMethod> = ResponseSent<SyncDefinition, M>;
/** The response of `M` as a worker receives it (every field present, defaults filled in). */
export type SyncResponseReceived<M extends SyncMethod> = ResponseReceived<SyncDefinition, M>;

/** The gRPC client constructor of the Sync service; `.service` is its definition, for servers. */
export type SyncClientConstructor = ProtoGrpcType['kmesh']['sync']['v1']['Sync'];

let client: SyncClientConstructor | undefined;
export function syncClient(): SyncClientConstructor {
  if (!client) {
    const definition = loadSync(protoFile(SYNC_PROTO), PROTO_LOADER_OPTIONS);
    // The generated types describe what the loader builds with PROTO_LOADER_OPTIONS.
    client = (loadPackageDefinition(definition) as unknown as ProtoGrpcType).kmesh.sync.v1.Sync;
  }
  return client;
}

let frameType: protobuf.Type | undefined;
function bulkFrameType(): protobuf.Type {
  frameType ??= new protobuf.Root()
    .loadSync(protoFile(SYNC_PROTO), { keepCase: true })
    .lookupType('kmesh.sync.v1.BulkFrame');
  return frameType;
}

/** A frame as it goes on the wire: u32 big-endian length, then the encoded BulkFrame. */
export function encodeFrame(frame: BulkFrame): Buffer {
  const body = bulkFrameType().encode(frame).finish();
  const out = Buffer.allocUnsafe(4 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.set(body, 4);
  return out;
}

function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 0x7f) {
    out.push((value & 0x7f) | 0x80);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}

/**
 * The bytes before a chunk's payload in its frame: the length prefix and the BulkFrame{chunk}
 * encoding up to the payload field's length. Sent as header + payload, so the (large) payload is
 * never copied into a frame buffer. Decodes as a normal BulkFrame on the other side.
 */
export function chunkFrameHeader(hash: Buffer, codec: string, payloadBytes: number): Buffer {
  const codecBytes = Buffer.from(codec);
  const inner = [
    0x0a,
    ...varint(hash.length),
    ...hash,
    0x12,
    ...varint(codecBytes.length),
    ...codecBytes,
    0x1a,
    ...varint(payloadBytes),
  ];
  const chunkBytes = inner.length + payloadBytes;
  const outer = [0x12, ...varint(chunkBytes)];
  const header = Buffer.alloc(4 + outer.length + inner.length);
  header.writeUInt32BE(outer.length + chunkBytes, 0);
  header.set(outer, 4);
  header.set(inner, 4 + outer.length);
  return header;
}

/**
 * Decodes a frame body. Takes a Buffer so that protobufjs hands out its bytes fields as Buffers
 * (views of `body`), as BulkFrame__Output says; fields left at their default read as the default.
 */
export function decodeFrame(body: Buffer): BulkFrame__Output {
  return bulkFrameType().decode(body) as unknown as BulkFrame__Output;
}

/** Splits a byte stream into frame bodies; refuses frames over MAX_FRAME_BYTES. */
export class FrameReader {
  private parts: Buffer[] = [];
  private buffered = 0;

  /** Bytes of an unfinished frame still held (a stream that ends here was truncated). */
  get pending(): number {
    return this.buffered;
  }

  push(data: Buffer): Buffer[] {
    this.parts.push(data);
    this.buffered += data.length;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.buffered < 4) break;
      const head = this.parts[0]!.length >= 4 ? this.parts[0]! : Buffer.concat(this.parts);
      const length = head.readUInt32BE(0);
      if (length > MAX_FRAME_BYTES)
        throw new Error(`bulk frame of ${length} bytes exceeds the ${MAX_FRAME_BYTES}-byte limit`);
      if (this.buffered < 4 + length) break;
      const all = this.parts.length === 1 ? this.parts[0]! : Buffer.concat(this.parts);
      frames.push(all.subarray(4, 4 + length));
      const rest = all.subarray(4 + length);
      this.parts = rest.length ? [rest] : [];
      this.buffered = rest.length;
    }
    return frames;
  }
}

export const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
export const raw = (hash: string): Buffer => Buffer.from(hash, 'hex');
