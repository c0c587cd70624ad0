/**
 * The published version: the manifest of the version a worker last scanned, written for the
 * gateway of its site, which serves it to peers that read it lazily
 * (docs/architecture.md#reads-access-cache). The file is `{"root": <hex>, "nodes": <hash →
 * encoded node>}`, root first, so its root can be read without parsing the rest. Also here: what
 * of a version a read session may see (the nodes reachable from its root) and where each of its
 * chunks lies.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/durable.js';
import { entryChunks, NodeSet, walk, type Hash } from './manifest.js';
import type { ChunkLocation } from './scan.js';

/** A version as published: its root and (at least) every node reachable from it. */
export interface PublishedVersion {
  root: Hash;
  nodes: NodeSet;
}

const HASH_RE = /^[0-9a-f]{64}$/;
/** The start of the file up to the end of the root: `{"root":"` + 64 hex digits + `"`. */
const HEAD_BYTES = 9 + 64 + 1;

/** Writes `version` to `path` atomically (lib/durable.ts): a reader sees the old file or the new. */
export function writePublished(path: string, version: PublishedVersion): void {
  writeFileAtomic(path, JSON.stringify({ root: version.root, nodes: version.nodes.toRecord() }));
}

/** The root of the version published at `path`, reading only the head of the file; undefined when there is none. */
export function publishedRootOf(path: string): Hash | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const head = Buffer.alloc(HEAD_BYTES);
    const n = readSync(fd, head, 0, HEAD_BYTES, 0);
    return /^\{"root":"([0-9a-f]{64})"$/.exec(head.subarray(0, n).toString('latin1'))?.[1];
  } finally {
    closeSync(fd);
  }
}

/** Reads a published version; throws naming the file when it is not one (its root node must be in it). */
export function readPublished(path: string): PublishedVersion {
  const document = JSON.parse(readFileSync(path, 'utf8')) as { root?: unknown; nodes?: unknown };
  const { root, nodes } = document;
  if (typeof root !== 'string' || !HASH_RE.test(root) || typeof nodes !== 'object' || nodes === null)
    throw new Error(`${path} is not a published version ({"root": <hex>, "nodes": {...}})`);
  const set = new NodeSet().addRecord(nodes as Record<Hash, string>);
  if (!set.has(root)) throw new Error(`${path}: the root node ${root} is missing`);
  return { root, nodes: set };
}

/**
 * The nodes reachable from `root` (directory nodes and chunk-list nodes), with their encoded
 * bytes: all a reader of that root may ask for. Throws when one is missing from `nodes`.
 */
export function reachableNodes(nodes: NodeSet, root: Hash): Map<Hash, Buffer> {
  const out = new Map<Hash, Buffer>();
  const take = (hash: Hash) => {
    const bytes = nodes.bytes.get(hash);
    if (!bytes) throw new Error(`manifest node ${hash} is missing`);
    out.set(hash, bytes);
  };
  take(root);
  for (const { entry } of walk(nodes, root)) {
    if (entry.type === 'dir') take(entry.node);
    else if (entry.type === 'file') for (const [hash] of entry.blocks ?? []) take(hash);
  }
  return out;
}

/**
 * Where each chunk of the version at `root` lies in its tree: chunk hash → the first file (path
 * relative to the tree), offset and size that hold it. Only files below `root` count, so for a
 * peer's view only the chunks of the files it sees are there.
 */
export function chunkLocations(nodes: NodeSet, root: Hash): Map<Hash, ChunkLocation> {
  const out = new Map<Hash, ChunkLocation>();
  for (const { path, entry } of walk(nodes, root)) {
    if (entry.type !== 'file') continue;
    let offset = 0;
    for (const [hash, sizeBytes] of entryChunks(entry, nodes)) {
      if (!out.has(hash)) out.set(hash, { path, offset, sizeBytes });
      offset += sizeBytes;
    }
  }
  return out;
}
