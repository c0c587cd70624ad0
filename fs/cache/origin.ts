/**
 * Where a cached tree's namespace and bytes come from: another site's gateway (sync/wire/read-client.ts),
 * or a tree on this site (a snapshot, another directory). Everything an origin returns is checked by
 * the cache before it is used: nodes against their hash, chunks against theirs.
 */
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Chunker } from '../../sync/engine/chunker.js';
import type { Hash } from '../../sync/engine/manifest.js';
import { scanTree, type TreeVersion } from '../../sync/engine/scan.js';
import { TreeIndex } from '../../sync/engine/tree-index.js';

export interface FetchedChunk {
  hash: Hash;
  data: Buffer;
}

export interface Origin {
  /** Its chunks are already checked against their hashes (the wire's reader does it): the cache need not hash them again. */
  readonly verified?: boolean;
  /** The origin's current version. */
  root(): Promise<Hash>;
  /** Manifest nodes by hash (encoded). */
  nodes(hashes: Hash[]): Promise<Map<Hash, Buffer>>;
  /** Chunk contents by hash, in any order; a chunk the origin cannot give fails the iteration. */
  chunks(hashes: Hash[]): AsyncIterable<FetchedChunk>;
  close(): void;
}

export const sha256 = (data: Uint8Array): Hash => createHash('sha256').update(data).digest('hex');

/** A directory on this site as an origin: scanned again when asked for its root, at most every `rescanMs`. */
export class LocalOrigin implements Origin {
  private version: TreeVersion | undefined;
  private scannedAt = 0;
  private readonly index = new TreeIndex();
  /** Counters, for tests: what the cache asked for. */
  readonly asked = { nodes: 0, chunks: 0, chunkBytes: 0 };

  constructor(
    private readonly dir: string,
    private readonly rescanMs = 1000,
  ) {}

  async rescan(): Promise<TreeVersion> {
    this.version = await scanTree(this.dir, { index: this.index, chunker: new Chunker(), site: 'origin' });
    this.scannedAt = Date.now();
    return this.version;
  }

  private async current(): Promise<TreeVersion> {
    return this.version ?? (await this.rescan());
  }

  async root(): Promise<Hash> {
    if (this.version && Date.now() - this.scannedAt >= this.rescanMs) await this.rescan();
    return (await this.current()).root;
  }

  async nodes(hashes: Hash[]): Promise<Map<Hash, Buffer>> {
    const version = await this.current();
    this.asked.nodes += hashes.length;
    const out = new Map<Hash, Buffer>();
    for (const hash of hashes) {
      const bytes = version.nodes.bytes.get(hash);
      if (bytes) out.set(hash, bytes);
    }
    return out;
  }

  async *chunks(hashes: Hash[]): AsyncIterable<FetchedChunk> {
    const version = await this.current();
    for (const hash of hashes) {
      const at = version.locations.get(hash);
      if (!at) throw new Error(`chunk ${hash} is not in version ${version.root}`);
      const data = Buffer.alloc(at.sizeBytes);
      const fd = openSync(join(this.dir, at.path), 'r');
      try {
        readSync(fd, data, 0, at.sizeBytes, at.offset);
      } finally {
        closeSync(fd);
      }
      this.asked.chunks++;
      this.asked.chunkBytes += data.length;
      yield { hash, data };
    }
  }

  close(): void {}
}
