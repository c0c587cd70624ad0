/**
 * Content-defined chunking, FastCDC style (Xia et al., 2016): a gear rolling hash over the bytes,
 * a cut where the hash's top bits are zero, a harder mask before the average size and an easier one
 * after it ("normalized chunking") so sizes cluster around the average. An insert moves only the
 * cuts next to it, so the chunks before and after keep their hashes and dedup against the old ones.
 */
import { createHash } from 'node:crypto';

/** Chunk size bounds. Kept in one place: sender and receiver dedup best with the same values. */
export interface ChunkingParams {
  minBytes: number;
  avgBytes: number;
  maxBytes: number;
}

/**
 * Chosen by measurement (BENCHMARKS.md, "chunk size"): 256 KiB average keeps a 1 MiB overwrite
 * under 2 MiB of chunk traffic while a 2 GiB file still has only ~8k chunks to list and hash.
 */
export const DEFAULT_CHUNKING: ChunkingParams = { minBytes: 64 * 1024, avgBytes: 256 * 1024, maxBytes: 1024 * 1024 };

/**
 * 256 pseudo-random 32-bit gear values, derived from SHA-256 so they are the same everywhere.
 * Held as signed 32-bit integers: V8 keeps those unboxed in the hot loop (values ≥ 2^31 read from a
 * Uint32Array become heap numbers); the arithmetic mod 2^32, and so every cut, is the same.
 */
const GEAR: Int32Array = (() => {
  const table = new Int32Array(256);
  for (let i = 0; i < 256; i += 8) {
    const digest = createHash('sha256').update(`kmesh-gear-${i}`).digest();
    for (let j = 0; j < 8; j++) table[i + j] = digest.readInt32BE(j * 4);
  }
  return table;
})();

/** A mask of `bits` one-bits at the top of a 32-bit word: the bits that have seen the most bytes. */
function topMask(bits: number): number {
  return ((2 ** bits - 1) * 2 ** (32 - bits)) >>> 0;
}

export function validateChunking(p: ChunkingParams): void {
  const pow2 = (n: number) => Number.isInteger(n) && n > 0 && (n & (n - 1)) === 0;
  if (!pow2(p.avgBytes)) throw new Error(`chunking.avgBytes must be a power of two, got ${p.avgBytes}`);
  if (!(p.minBytes > 0 && p.minBytes < p.avgBytes && p.avgBytes < p.maxBytes)) {
    throw new Error(`chunking needs 0 < minBytes < avgBytes < maxBytes, got ${p.minBytes}/${p.avgBytes}/${p.maxBytes}`);
  }
}

/**
 * Finds chunk cuts in a buffer. `cut(buf, start, end)` returns the length of the chunk starting at
 * `start`; when `end - start < maxBytes` and more data may follow, the caller must pass a longer
 * buffer first (see `splitChunks`), otherwise the returned length is final.
 */
export class Chunker {
  private readonly maskHard: number;
  private readonly maskEasy: number;
  private readonly zeros: Buffer;
  /**
   * Where a run of at least maxBytes zeros is cut, and that chunk's hash: sparse and preallocated
   * files are mostly zeros, and the cut depends only on the bytes, so it is computed once.
   */
  readonly zeroChunk: { sizeBytes: number; hash: string };

  constructor(readonly params: ChunkingParams = DEFAULT_CHUNKING) {
    validateChunking(params);
    const bits = Math.log2(params.avgBytes);
    this.maskHard = topMask(bits + 2);
    this.maskEasy = topMask(bits - 2);
    this.zeros = Buffer.alloc(params.maxBytes);
    const sizeBytes = this.scan(this.zeros, 0, params.maxBytes);
    this.zeroChunk = { sizeBytes, hash: chunkHash(this.zeros.subarray(0, sizeBytes)) };
  }

  /** True when buf[start, start + maxBytes) is all zeros (then the cut is zeroChunk's). */
  zeroRun(buf: Buffer, start: number, end: number): boolean {
    const stop = start + this.params.maxBytes;
    return end >= stop && buf.compare(this.zeros, 0, this.params.maxBytes, start, stop) === 0;
  }

  cut(buf: Buffer, start: number, end: number): number {
    return this.zeroRun(buf, start, end) ? this.zeroChunk.sizeBytes : this.scan(buf, start, end);
  }

  private scan(buf: Uint8Array, start: number, end: number): number {
    const { minBytes, avgBytes, maxBytes } = this.params;
    const length = end - start;
    if (length <= minBytes) return length;
    const stop = start + Math.min(length, maxBytes);
    const normal = start + Math.min(length, avgBytes);
    const maskHard = this.maskHard | 0;
    const maskEasy = this.maskEasy | 0;
    const gear = GEAR;
    let h = 0;
    let i = start + minBytes;
    for (; i < normal; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & maskHard) === 0) return i + 1 - start;
    }
    for (; i < stop; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & maskEasy) === 0) return i + 1 - start;
    }
    return stop - start;
  }
}

/** The read window splitChunks works in: several max-size chunks, at least 4 MiB. */
export function windowSize(chunker: Chunker): number {
  return Math.max(4 * chunker.params.maxBytes, 4 * 1024 * 1024);
}

/** One chunk of a stream: where it starts, how long it is, and its SHA-256 (hex). */
export interface ChunkCut {
  offset: number;
  sizeBytes: number;
  hash: string;
}

/** SHA-256 of a chunk's plaintext, hex: the chunk's name everywhere in Kmesh. */
export function chunkHash(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * Splits a byte source into chunks. `read(buf, position)` fills `buf` from `position` and returns
 * the bytes read (0 at the end). Each chunk is handed to `onChunk` with the bytes it covers; the
 * view is only valid during the call.
 */
export async function splitChunks(
  chunker: Chunker,
  read: (buf: Buffer, position: number) => Promise<number>,
  onChunk: (cut: ChunkCut, data: Buffer) => void | Promise<void>,
  buffer?: Buffer,
): Promise<number> {
  const buf = buffer ?? Buffer.allocUnsafe(windowSize(chunker));
  if (buf.length < 2 * chunker.params.maxBytes)
    throw new Error(`splitChunks needs a buffer of at least ${2 * chunker.params.maxBytes} bytes`);
  const windowBytes = buf.length;
  let filled = 0; // bytes in buf
  let head = 0; // start of unchunked data in buf
  let position = 0; // stream offset of buf[0]
  let eof = false;
  for (;;) {
    if (!eof && filled - head < chunker.params.maxBytes) {
      if (head > 0) {
        buf.copy(buf, 0, head, filled);
        position += head;
        filled -= head;
        head = 0;
      }
      while (!eof && filled < windowBytes) {
        const n = await read(buf.subarray(filled), position + filled);
        if (n === 0) eof = true;
        filled += n;
      }
    }
    if (head === filled) return position + filled;
    const zero = chunker.zeroRun(buf, head, filled);
    const size = zero ? chunker.zeroChunk.sizeBytes : chunker.cut(buf, head, filled);
    const data = buf.subarray(head, head + size);
    await onChunk(
      { offset: position + head, sizeBytes: size, hash: zero ? chunker.zeroChunk.hash : chunkHash(data) },
      data,
    );
    head += size;
  }
}
