/**
 * Merkle manifests: the format both ends of a sync agree on (format version 1).
 *
 * A tree is a set of content-addressed nodes. A directory node lists its entries sorted by name;
 * a file entry carries its chunk list inline (or, for a big file, references to chunk-list nodes,
 * so a small change re-sends one list node rather than every chunk reference); a directory entry
 * names the child directory node by hash. The hash of the top directory node is the tree's root:
 * equal roots mean equal trees, and a differing subtree is found by descending only where hashes
 * differ. Every entry may carry a version vector (site → counter) for the sync and multiMaster
 * modes; async mode bumps the local site's counter when an entry changes.
 */
import { createHash } from 'node:crypto';

/** Hex SHA-256 of a chunk's plaintext or of an encoded node. */
export type Hash = string;
/** A chunk reference: [hash, size in bytes]. */
export type ChunkRef = [hash: Hash, sizeBytes: number];
/** A chunk-list node reference: [hash, bytes covered, chunk count]. */
export type BlockRef = [hash: Hash, sizeBytes: number, chunkCount: number];
/** Per-path version vector: site name → counter. */
export type VersionVector = Record<string, number>;

interface EntryBase {
  name: string;
  mtimeMs: number;
  vv?: VersionVector;
}
export interface FileEntry extends EntryBase {
  type: 'file';
  mode: number;
  sizeBytes: number;
  /** Inline chunk list (files with few chunks). Exactly one of chunks/blocks is set. */
  chunks?: ChunkRef[];
  /** Chunk-list nodes (big files). */
  blocks?: BlockRef[];
}
export interface DirEntry extends EntryBase {
  type: 'dir';
  mode: number;
  node: Hash;
}
export interface SymlinkEntry extends EntryBase {
  type: 'symlink';
  target: string;
}
export type Entry = FileEntry | DirEntry | SymlinkEntry;

export interface DirNode {
  v: 1;
  type: 'dir';
  entries: Entry[];
}
export interface ChunkListNode {
  v: 1;
  type: 'chunks';
  chunks: ChunkRef[];
}
export type ManifestNode = DirNode | ChunkListNode;

/** Files with more chunks than this keep their list in chunk-list nodes. */
export const INLINE_CHUNKS_MAX = 64;
/** A chunk-list node ends after a chunk whose hash starts with "00" (1 in 256)… */
const BLOCK_CUT_PREFIX = '0';
/** …or at this many chunks, whichever comes first. */
export const BLOCK_CHUNKS_MAX = 512;

/** Encodes a node canonically: the same node always gives the same bytes and hash. */
export function encodeNode(node: ManifestNode): Buffer {
  return Buffer.from(JSON.stringify(node));
}

export function hashBytes(bytes: Uint8Array): Hash {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Parses and checks a node received from a peer; throws naming what is wrong. */
export function decodeNode(bytes: Uint8Array, expected?: Hash): ManifestNode {
  if (expected !== undefined && hashBytes(bytes) !== expected)
    throw new Error(`manifest node ${expected} does not match its hash`);
  const node = JSON.parse(Buffer.from(bytes).toString('utf8')) as ManifestNode;
  if (node?.v !== 1)
    throw new Error(`manifest node has unsupported format version ${String((node as { v?: unknown })?.v)}`);
  if (node.type === 'chunks') {
    if (!Array.isArray(node.chunks)) throw new Error('chunk-list node has no chunks');
    for (const c of node.chunks) checkChunkRef(c);
  } else if (node.type === 'dir') {
    if (!Array.isArray(node.entries)) throw new Error('directory node has no entries');
    for (const e of node.entries) checkEntry(e);
  } else {
    throw new Error(`manifest node has unknown type ${String((node as { type?: unknown }).type)}`);
  }
  return node;
}

const HASH_RE = /^[0-9a-f]{64}$/;

function checkChunkRef(c: unknown): void {
  if (
    !Array.isArray(c) ||
    typeof c[0] !== 'string' ||
    !HASH_RE.test(c[0]) ||
    !Number.isSafeInteger(c[1]) ||
    (c[1] as number) < 0
  ) {
    throw new Error(`bad chunk reference ${JSON.stringify(c)}`);
  }
}

/** Entry names are single path components: no separators, no "." or "..". */
export function checkEntryName(name: unknown): asserts name is string {
  if (
    typeof name !== 'string' ||
    name === '' ||
    name === '.' ||
    name === '..' ||
    name.includes('/') ||
    name.includes('\0')
  ) {
    throw new Error(`bad entry name ${JSON.stringify(name)}`);
  }
}

function checkEntry(e: Entry): void {
  checkEntryName(e.name);
  if (!Number.isFinite(e.mtimeMs)) throw new Error(`entry ${e.name}: bad mtimeMs`);
  if (e.type === 'file') {
    if (!Number.isSafeInteger(e.sizeBytes) || e.sizeBytes < 0) throw new Error(`entry ${e.name}: bad sizeBytes`);
    if (!Number.isInteger(e.mode)) throw new Error(`entry ${e.name}: bad mode`);
    if (e.chunks) for (const c of e.chunks) checkChunkRef(c);
    else if (e.blocks) for (const b of e.blocks) checkChunkRef(b);
    else throw new Error(`entry ${e.name}: file without chunks`);
  } else if (e.type === 'dir') {
    if (typeof e.node !== 'string' || !HASH_RE.test(e.node)) throw new Error(`entry ${e.name}: bad node hash`);
  } else if (e.type === 'symlink') {
    if (typeof e.target !== 'string' || e.target === '') throw new Error(`entry ${e.name}: bad symlink target`);
  } else {
    throw new Error(`entry ${String((e as { name?: unknown }).name)}: unknown type`);
  }
}

/** Nodes by hash, with their encoded bytes: what a side holds of a tree. */
export class NodeSet {
  readonly bytes = new Map<Hash, Buffer>();

  add(node: ManifestNode): Hash {
    const encoded = encodeNode(node);
    const hash = hashBytes(encoded);
    if (!this.bytes.has(hash)) this.bytes.set(hash, encoded);
    return hash;
  }

  addEncoded(encoded: Buffer, hash: Hash): void {
    this.bytes.set(hash, encoded);
  }

  has(hash: Hash): boolean {
    return this.bytes.has(hash);
  }

  get(hash: Hash): ManifestNode {
    const encoded = this.bytes.get(hash);
    if (!encoded) throw new Error(`manifest node ${hash} is missing`);
    return decodeNode(encoded);
  }

  /** The nodes as a JSON-ready record (hash → encoded node), how journals and snapshots store them. */
  toRecord(): Record<Hash, string> {
    return Object.fromEntries([...this.bytes].map(([hash, bytes]) => [hash, bytes.toString()]));
  }

  /** Adds the nodes of a record written by toRecord(). */
  addRecord(record: Record<Hash, string>): this {
    for (const [hash, text] of Object.entries(record)) this.addEncoded(Buffer.from(text), hash);
    return this;
  }
}

/** Puts a file's chunk list into an entry: inline, or split into content-defined list nodes. */
export function fileChunks(chunks: ChunkRef[], nodes: NodeSet): Pick<FileEntry, 'chunks' | 'blocks'> {
  if (chunks.length <= INLINE_CHUNKS_MAX) return { chunks };
  const blocks: BlockRef[] = [];
  let start = 0;
  const close = (end: number) => {
    const part = chunks.slice(start, end);
    const hash = nodes.add({ v: 1, type: 'chunks', chunks: part });
    blocks.push([hash, part.reduce((sum, c) => sum + c[1], 0), part.length]);
    start = end;
  };
  for (let i = 0; i < chunks.length; i++) {
    const count = i + 1 - start;
    if (count >= BLOCK_CHUNKS_MAX || (count > 1 && chunks[i]![0].startsWith(BLOCK_CUT_PREFIX + BLOCK_CUT_PREFIX)))
      close(i + 1);
  }
  if (start < chunks.length) close(chunks.length);
  return { blocks };
}

/** The flat chunk list of a file entry, reading list nodes from `nodes`. */
export function entryChunks(entry: FileEntry, nodes: NodeSet): ChunkRef[] {
  if (entry.chunks) return entry.chunks;
  const out: ChunkRef[] = [];
  for (const [hash] of entry.blocks ?? []) {
    const node = nodes.get(hash);
    if (node.type !== 'chunks') throw new Error(`manifest node ${hash} is not a chunk list`);
    out.push(...node.chunks);
  }
  return out;
}

/** Sorts entries by name (byte order) so equal trees encode equally. */
export function sortEntries(entries: Entry[]): Entry[] {
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Equal content and metadata, ignoring version vectors. */
export function sameEntry(a: Entry, b: Entry): boolean {
  const strip = (e: Entry) => JSON.stringify({ ...e, vv: undefined });
  return strip(a) === strip(b);
}

/** Walks a tree depth-first, yielding every entry with its path relative to the root. */
export function* walk(nodes: NodeSet, root: Hash, prefix = ''): Generator<{ path: string; entry: Entry }> {
  const node = nodes.get(root);
  if (node.type !== 'dir') throw new Error(`manifest node ${root} is not a directory`);
  for (const entry of node.entries) {
    const path = prefix ? `${prefix}/${entry.name}` : entry.name;
    yield { path, entry };
    if (entry.type === 'dir') yield* walk(nodes, entry.node, path);
  }
}
