/**
 * The sending side of one sync pass: bring a peer to the version at `version.root`.
 *
 * Roots are compared first; then manifest nodes are offered level by level and only the ones the
 * peer lacks are sent (and only their children are offered next), so unchanged subtrees cost one
 * hash. The chunks of the files in those nodes are offered in batches, the peer answers which it
 * lacks (it dedups against everything it holds), those are streamed, and the peer commits.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { chunkHash } from './chunker.js';
import { decodeNode, type Hash } from './manifest.js';
import type { CommitResult } from './receiver.js';
import type { TreeVersion } from './scan.js';

/** One side's view of a session with a peer's receiver; implemented over the wire and in-process. */
export interface PeerSession {
  /** The peer's current root, from the handshake. */
  readonly peerRoot: Hash | undefined;
  missingNodes(hashes: Hash[]): Promise<Hash[]>;
  putNodes(nodes: { hash: Hash; bytes: Buffer }[]): Promise<void>;
  /** Which chunks the peer lacks; `root` is the version they belong to (the peer prepares its files). */
  missingChunks(hashes: Hash[], root: Hash): Promise<Hash[]>;
  /** Sends chunks; resolves once the peer has acknowledged every one. */
  sendChunks(hashes: Hash[], read: ChunkReaderLike): Promise<void>;
  commit(root: Hash): Promise<CommitResult>;
}

/** What sendChunks reads with: a ChunkReader, or any function (tests). */
export type ChunkReaderLike = ((hash: Hash) => Promise<Buffer>) & { release?(buf: Buffer): void };

/** A sync failure, with whether retrying the pass can help and the path involved, if any. */
export class TransferError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly path?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface PushResult {
  unchanged: boolean;
  nodesSent: number;
  chunksOffered: number;
  chunksSent: number;
  bytesSent: number;
  filesWritten: number;
}

const OFFER_BATCH = 8192;
const COMMIT_ATTEMPTS = 3;

/**
 * Reads chunks for a pass; `close()` releases the files it keeps open. `release(buf)` hands back a
 * buffer `read` returned once nothing refers to it any more, so the next read reuses its memory
 * (a GiB of chunks would otherwise be a GiB of garbage).
 */
export type ChunkReader = ((hash: Hash) => Promise<Buffer>) & { close(): Promise<void>; release?(buf: Buffer): void };

/** Reused read buffers: every chunk fits in one (chunks are at most 1 MiB; bigger ones are not pooled). */
const POOLED_BYTES = 1024 * 1024;
const POOL_MAX = 16;

const OPEN_FILES_MAX = 32;

/**
 * Reads chunks from the files they were scanned from. A file is checked once, when opened, against
 * what the scan saw (size, mtime, ctime, inode): a file changed since is a retryable error, and
 * the next pass rescans it. (The receiver checks every chunk's hash regardless.) Reads are
 * synchronous, one chunk (at most 1 MiB) at a time: for many small files the thread-pool round
 * trips of async reads cost more than the reads.
 */
export function chunkReader(treeDir: string, version: TreeVersion): ChunkReader {
  const open = new Map<string, number>();
  const fdOf = (path: string): number => {
    const cached = open.get(path);
    if (cached !== undefined) return cached;
    if (open.size >= OPEN_FILES_MAX) {
      const [oldest, fd] = open.entries().next().value as [string, number];
      open.delete(oldest);
      closeSync(fd);
    }
    let fd: number;
    try {
      fd = openSync(join(treeDir, path), 'r');
    } catch (error) {
      throw new TransferError(`source file ${path} vanished during the pass`, true, path, { cause: error });
    }
    const st = fstatSync(fd);
    const seen = version.files.get(path);
    if (
      seen &&
      (st.size !== seen.sizeBytes || st.mtimeMs !== seen.mtimeMs || st.ctimeMs !== seen.ctimeMs || st.ino !== seen.ino)
    ) {
      closeSync(fd);
      throw new TransferError(`source file ${path} changed during the pass`, true, path);
    }
    open.set(path, fd);
    return fd;
  };
  const pool: Buffer[] = [];
  /** Memory this reader allocated for the pool: the only buffers `release` takes back (never held ones). */
  const ours = new WeakSet<ArrayBufferLike>();
  const slab = (): Buffer => {
    const buf = Buffer.allocUnsafeSlow(POOLED_BYTES);
    ours.add(buf.buffer);
    return buf;
  };
  const allocate = (size: number): Buffer =>
    size <= POOLED_BYTES ? (pool.pop() ?? slab()).subarray(0, size) : Buffer.allocUnsafe(size);
  const read = (hash: Hash): Promise<Buffer> => {
    const held = version.held.get(hash);
    if (held) return Promise.resolve(held); // read by the scan moments ago: what the manifest names
    try {
      const at = version.locations.get(hash);
      if (!at) throw new TransferError(`chunk ${hash} is not in the scanned tree`, true);
      const buf = allocate(at.sizeBytes);
      let done = 0;
      while (done < at.sizeBytes) {
        const n = readSync(fdOf(at.path), buf, done, at.sizeBytes - done, at.offset + done);
        if (n === 0) throw new TransferError(`source file ${at.path} changed during the pass`, true, at.path);
        done += n;
      }
      if (!version.files.has(at.path) && chunkHash(buf) !== hash)
        throw new TransferError(`source file ${at.path} changed during the pass`, true, at.path);
      return Promise.resolve(buf);
    } catch (error) {
      return Promise.reject(error instanceof Error ? error : new Error(String(error)));
    }
  };
  return Object.assign(read, {
    close: () => {
      for (const fd of open.values()) closeSync(fd);
      open.clear();
      pool.length = 0;
      return Promise.resolve();
    },
    release: (buf: Buffer) => {
      if (ours.has(buf.buffer) && pool.length < POOL_MAX) pool.push(Buffer.from(buf.buffer, 0, POOLED_BYTES));
    },
  });
}

/**
 * Progress of a pass, for status and metrics. Accounting never fails a transfer: a hook that
 * throws is reported through `onHookError` (or ignored) and the pass goes on.
 */
export interface PushHooks {
  /** Chunks offered in a batch and the part the peer lacks (the rest is saved by dedup), in bytes; missing ≤ offered. */
  planned?(offeredBytes: number, missingBytes: number): void;
  /** Chunk bytes acknowledged by the peer. */
  sent?(bytes: number): void;
  onHookError?(error: unknown): void;
}

/** The hooks, each made unable to throw into the pass. */
function guarded(hooks: PushHooks): Required<Pick<PushHooks, 'planned' | 'sent'>> {
  const call = (f: () => void) => {
    try {
      f();
    } catch (error) {
      hooks.onHookError?.(error);
    }
  };
  return {
    planned: (offered, missing) => call(() => hooks.planned?.(offered, missing)),
    sent: (bytes) => call(() => hooks.sent?.(bytes)),
  };
}

export async function pushVersion(
  version: TreeVersion,
  session: PeerSession,
  read: (hash: Hash) => Promise<Buffer>,
  pushHooks: PushHooks = {},
): Promise<PushResult> {
  const hooks = guarded(pushHooks);
  const result: PushResult = {
    unchanged: false,
    nodesSent: 0,
    chunksOffered: 0,
    chunksSent: 0,
    bytesSent: 0,
    filesWritten: 0,
  };
  if (session.peerRoot === version.root) return { ...result, unchanged: true };

  // Nodes, level by level, descending only into what the peer lacks.
  const candidates = new Set<Hash>();
  let level = [version.root];
  while (level.length) {
    const missing = await session.missingNodes(level);
    await sendNodes(session, version, missing);
    result.nodesSent += missing.length;
    const next: Hash[] = [];
    for (const hash of missing) {
      const node = decodeNode(version.nodes.bytes.get(hash)!);
      if (node.type === 'chunks') {
        for (const [h] of node.chunks) candidates.add(h);
        continue;
      }
      for (const e of node.entries) {
        if (e.type === 'dir') next.push(e.node);
        else if (e.type === 'file' && e.chunks) for (const [h] of e.chunks) candidates.add(h);
        else if (e.type === 'file' && e.blocks) for (const [h] of e.blocks) next.push(h);
      }
    }
    level = [...new Set(next)];
  }

  // Chunks the peer lacks.
  const offered = [...candidates];
  result.chunksOffered = offered.length;
  for (let i = 0; i < offered.length; i += OFFER_BATCH) {
    const batch = offered.slice(i, i + OFFER_BATCH);
    const missing = await session.missingChunks(batch, version.root);
    hooks.planned(sizeOf(version, batch), sizeOf(version, missing));
    await sendChunks(session, version, missing, read, result, hooks);
  }

  for (let attempt = 1; ; attempt++) {
    const commit = await session.commit(version.root);
    if (commit.applied) {
      result.filesWritten = commit.files ?? 0;
      return result;
    }
    if (attempt === COMMIT_ATTEMPTS) {
      throw new TransferError(
        `peer could not commit ${version.root}: ${commit.missingNodes.length} nodes and ${commit.missingChunks.length} chunks still missing`,
        true,
      );
    }
    await sendNodes(session, version, commit.missingNodes);
    // Chunks the peer turned out to lack at commit (a file of its own changed under it, say):
    // offered now, and none of them saved by dedup.
    const missingBytes = sizeOf(version, commit.missingChunks);
    hooks.planned(missingBytes, missingBytes);
    await sendChunks(session, version, commit.missingChunks, read, result, hooks);
  }
}

function sizeOf(version: TreeVersion, hashes: Hash[]): number {
  return hashes.reduce((sum, h) => sum + (version.locations.get(h)?.sizeBytes ?? 0), 0);
}

async function sendNodes(session: PeerSession, version: TreeVersion, hashes: Hash[]): Promise<void> {
  if (!hashes.length) return;
  const nodes = hashes.map((hash) => {
    const bytes = version.nodes.bytes.get(hash);
    if (!bytes) throw new TransferError(`peer asked for manifest node ${hash}, which is not in this version`, false);
    return { hash, bytes };
  });
  await session.putNodes(nodes);
}

async function sendChunks(
  session: PeerSession,
  version: TreeVersion,
  hashes: Hash[],
  read: (hash: Hash) => Promise<Buffer>,
  result: PushResult,
  hooks: ReturnType<typeof guarded>,
): Promise<void> {
  if (!hashes.length) return;
  for (const h of hashes)
    if (!version.locations.has(h))
      throw new TransferError(`peer asked for chunk ${h}, which is not in this version`, false);
  await session.sendChunks(hashes, read);
  const bytes = sizeOf(version, hashes);
  result.chunksSent += hashes.length;
  result.bytesSent += bytes;
  hooks.sent(bytes);
}
