/**
 * Per-chunk protection on the wire: compress, then seal with AES-GCM; the receiver opens,
 * decompresses and checks the SHA-256 against the chunk's name, so a wrong key, a flipped bit or a
 * chunk sent under another name is rejected before anything is written.
 *
 * Sealed layout: nonce (12 bytes) ‖ ciphertext ‖ tag (16 bytes); the chunk hash is the additional
 * authenticated data, binding the ciphertext to the chunk it claims to be. Without encryption the
 * payload is just the compressed bytes (the link is still mTLS).
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { gunzipSync, gzipSync } from 'node:zlib';
import * as lz4 from 'lz4-napi';
import * as zstd from '@bokuweb/zstd-wasm';
import { COMPRESSION } from '../../api/v1alpha1/common.js';
import type { ENCRYPTION_ALGORITHMS } from '../../api/v1alpha1/data-flow.js';

/** The codecs: the API's list (policy.compression), so every value the CRD accepts is one implemented here. */
export const COMPRESSIONS = COMPRESSION;
export type Compression = (typeof COMPRESSION)[number];
export type Encryption = (typeof ENCRYPTION_ALGORITHMS)[number];

const KEY_BYTES: Record<Exclude<Encryption, 'none'>, number> = {
  'aes-128-gcm': 16,
  'aes-192-gcm': 24,
  'aes-256-gcm': 32,
};

/** What a chunk failed on; the message names the chunk and the reason. */
export class ChunkRejected extends Error {}

export interface SealPolicy {
  compression: Compression;
  encryption: Encryption;
  /** Raw key bytes; length must match the algorithm. */
  key?: Buffer;
}

let zstdReady: Promise<void> | undefined;
/** zstd runs as WebAssembly (Node 20 has no zstd in zlib); it needs one async init per process. */
export function initCodecs(): Promise<void> {
  zstdReady ??= zstd.init();
  return zstdReady;
}

/**
 * Checks that `key` fits `algorithm` (the algorithm itself is checked where the config is read,
 * api/sync-config/); the message tells which Secret to fix.
 */
export function checkKey(algorithm: Exclude<Encryption, 'none'>, key: Buffer): void {
  const want = KEY_BYTES[algorithm];
  if (key.length !== want)
    throw new Error(
      `${algorithm} needs a ${want}-byte key, the file holds ${key.length} bytes (fix the Secret named in spec.policy.encryption.keySecretRef)`,
    );
}

/** A short proof of the key that reveals nothing about it, compared in the session handshake. */
export function keyCheck(policy: SealPolicy): string {
  if (policy.encryption === 'none' || !policy.key) return '';
  return createHmac('sha256', policy.key).update(`kmesh key check v1 ${policy.encryption}`).digest('hex').slice(0, 32);
}

export function compress(data: Buffer, compression: Compression): Buffer {
  switch (compression) {
    case 'none':
      return data;
    case 'lz4':
      return lz4.compressSync(data);
    case 'gzip':
      return gzipSync(data, { level: 1 });
    case 'zstd':
      return Buffer.from(zstd.compress(data, 3));
  }
}

export function decompress(data: Buffer, compression: Compression): Buffer {
  switch (compression) {
    case 'none':
      return data;
    case 'lz4':
      return lz4.uncompressSync(data);
    case 'gzip':
      return gunzipSync(data);
    case 'zstd':
      return Buffer.from(zstd.decompress(data));
  }
}

/**
 * The bytes that go on the wire for a chunk, as parts to write one after another (no copy into
 * one buffer), and the codec actually used (none when compression did not pay).
 */
export function sealChunkParts(
  data: Buffer,
  hash: string,
  policy: SealPolicy,
): { codec: Compression; parts: Buffer[]; length: number } {
  let codec = policy.compression;
  let body = codec === 'none' ? data : compress(data, codec);
  if (body.length >= data.length) {
    codec = 'none';
    body = data;
  }
  if (policy.encryption === 'none') return { codec, parts: [body], length: body.length };
  const nonce = randomBytes(12);
  const cipher = createCipheriv(policy.encryption, policy.key!, nonce);
  cipher.setAAD(Buffer.from(hash, 'hex'));
  const parts = [nonce, cipher.update(body), cipher.final(), cipher.getAuthTag()].filter((p) => p.length > 0);
  return { codec, parts, length: parts.reduce((n, p) => n + p.length, 0) };
}

/** sealChunkParts as one buffer. */
export function sealChunk(data: Buffer, hash: string, policy: SealPolicy): { codec: Compression; payload: Buffer } {
  const { codec, parts } = sealChunkParts(data, hash, policy);
  return { codec, payload: parts.length === 1 ? parts[0]! : Buffer.concat(parts) };
}

/** Opens a sealed chunk and checks it is the chunk named `hash`; throws ChunkRejected otherwise. */
export function openChunk(
  payload: Buffer,
  codec: Compression,
  hash: string,
  policy: SealPolicy,
  verify: (data: Buffer) => string,
): Buffer {
  let body = payload;
  if (policy.encryption !== 'none') {
    if (payload.length < 28)
      throw new ChunkRejected(`chunk ${hash}: sealed payload truncated (${payload.length} bytes)`);
    const decipher = createDecipheriv(policy.encryption, policy.key!, payload.subarray(0, 12));
    decipher.setAAD(Buffer.from(hash, 'hex'));
    decipher.setAuthTag(payload.subarray(payload.length - 16));
    try {
      const opened = decipher.update(payload.subarray(12, payload.length - 16));
      const rest = decipher.final(); // GCM has no padding: empty, unless the runtime buffers
      body = rest.length ? Buffer.concat([opened, rest]) : opened;
    } catch {
      throw new ChunkRejected(
        `chunk ${hash}: failed authentication (wrong encryption key, or the data was tampered with)`,
      );
    }
  }
  if (!COMPRESSIONS.includes(codec)) throw new ChunkRejected(`chunk ${hash}: unknown codec ${String(codec)}`);
  let data: Buffer;
  try {
    data = decompress(body, codec);
  } catch (error) {
    throw new ChunkRejected(`chunk ${hash}: cannot decompress (${codec}): ${(error as Error).message}`);
  }
  if (verify(data) !== hash) throw new ChunkRejected(`chunk ${hash}: content does not match its hash`);
  return data;
}
