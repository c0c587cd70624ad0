/**
 * The manifest nodes a cached tree has seen, kept on disk (`<state>/nodes/<hash>`) so that a lazy
 * file can find its chunk list after a restart, or after the origin moved on to another version.
 * A node is fetched from the origin once, checked against its hash, then served from here.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/durable.js';
import {
  decodeNode,
  entryChunks,
  type ChunkRef,
  type FileEntry,
  type Hash,
  type ManifestNode,
  NodeSet,
} from '../../sync/engine/manifest.js';
import type { Origin } from './origin.js';

export class ManifestStore {
  private readonly memory = new Map<Hash, Buffer>();
  private readonly pending = new Map<Hash, Promise<Buffer>>();

  constructor(
    private readonly dir: string,
    private readonly origin: Origin,
  ) {
    mkdirSync(dir, { recursive: true });
  }

  private fromDisk(hash: Hash): Buffer | undefined {
    try {
      const bytes = readFileSync(join(this.dir, hash));
      this.memory.set(hash, bytes);
      return bytes;
    } catch {
      return undefined;
    }
  }

  /** The encoded node, fetched from the origin when not held. */
  async bytes(hash: Hash): Promise<Buffer> {
    const held = this.memory.get(hash) ?? this.fromDisk(hash);
    if (held) return held;
    let fetching = this.pending.get(hash);
    if (!fetching) {
      fetching = this.fetch(hash).finally(() => this.pending.delete(hash));
      this.pending.set(hash, fetching);
    }
    return fetching;
  }

  private async fetch(hash: Hash): Promise<Buffer> {
    const got = (await this.origin.nodes([hash])).get(hash);
    if (!got) throw new Error(`the origin does not have manifest node ${hash}`);
    decodeNode(got, hash); // checks the hash and the encoding before anything relies on it
    writeFileAtomic(join(this.dir, hash), got);
    this.memory.set(hash, got);
    return got;
  }

  async node(hash: Hash): Promise<ManifestNode> {
    return decodeNode(await this.bytes(hash));
  }

  /** A file entry's flat chunk list (its list nodes fetched as needed). */
  async chunks(entry: FileEntry): Promise<ChunkRef[]> {
    if (entry.chunks) return entry.chunks;
    const set = new NodeSet();
    for (const [hash] of entry.blocks ?? []) set.addEncoded(await this.bytes(hash), hash);
    return entryChunks(entry, set);
  }
}
