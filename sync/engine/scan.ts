/**
 * Scans a POSIX tree into a merkle manifest, reading only files the index does not vouch for.
 * The result also says where every chunk lives (path and offset), which is how a sender serves
 * chunks without a second copy and how a receiver dedups against what it already holds.
 */
import { closeSync, lstatSync, openSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { splitChunks, windowSize, type Chunker } from './chunker.js';
import { listNames, shownName, textOf } from './names.js';
import {
  entryChunks,
  fileChunks,
  NodeSet,
  walk,
  sortEntries,
  type ChunkRef,
  type Entry,
  type Hash,
  type VersionVector,
} from './manifest.js';
import type { IndexRecord, TreeIndex } from './tree-index.js';

export interface ChunkLocation {
  path: string;
  offset: number;
  sizeBytes: number;
}

/** A scanned version of a tree. */
export interface TreeVersion {
  root: Hash;
  nodes: NodeSet;
  /** chunk hash → one place it can be read from (relative path). */
  locations: Map<Hash, ChunkLocation>;
  /** What the scan saw of each file, to notice a file that changes before its chunks are read. */
  files: Map<string, { sizeBytes: number; mtimeMs: number; ctimeMs: number; ino: number }>;
  /**
   * Chunks of small files this scan read, kept in memory (up to HELD_BYTES_MAX) so that sending
   * them does not open and read each file a second time. The sender drops them after the pass.
   */
  held: Map<Hash, Buffer>;
  stats: ScanStats;
}

/** Memory a scan may keep of the small files it read (see TreeVersion.held). */
export const HELD_BYTES_MAX = 64 * 1024 * 1024;

export interface ScanStats {
  files: number;
  dirs: number;
  logicalBytes: number;
  /** Files and bytes read because the index could not vouch for them. */
  readFiles: number;
  readBytes: number;
  /**
   * Entries left out because their name (or a symlink's target) is not valid UTF-8: manifests carry
   * names as text. How many, and the first few, bad bytes shown as \xNN. The rest still syncs.
   */
  skippedNames: number;
  skippedExamples: string[];
}

/** How many left-out names a scan lists by path (the count has them all). */
const SKIPPED_EXAMPLES_MAX = 10;

/** What `read` returns, or undefined when the entry vanished meanwhile (ENOENT): deleted as we scan. */
async function vanishedAsUndefined<T>(read: () => Promise<T>): Promise<T | undefined> {
  try {
    return await read();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export interface ScanOptions {
  index: TreeIndex;
  chunker: Chunker;
  /** The local site, whose counter a changed entry's version vector bumps. */
  site: string;
  /** Relative paths (and everything below) left out, e.g. a state directory inside the tree. */
  exclude?: (relPath: string) => boolean;
  /**
   * An incremental scan: the version of the last scan, and every path that may have changed since
   * (from a change feed; a rename names both paths). Directories with no such path at or below
   * them are taken from `previous` without touching the filesystem; a listed path is scanned with
   * everything below it.
   */
  since?: { previous: TreeVersion; changed: Set<string> };
}

/** Every directory leading to a changed path (the root as ''): these are listed again. */
function ancestorsOf(changed: Set<string>): Set<string> {
  const out = new Set<string>(['']);
  for (const path of changed) {
    for (let i = path.indexOf('/'); i >= 0; i = path.indexOf('/', i + 1)) out.add(path.slice(0, i));
  }
  return out;
}

function unchanged(record: IndexRecord | undefined, st: Stats, type: IndexRecord['type']): record is IndexRecord {
  return (
    record !== undefined &&
    record.type === type &&
    record.sizeBytes === st.size &&
    record.mtimeMs === st.mtimeMs &&
    record.ctimeMs === st.ctimeMs &&
    record.ino === st.ino &&
    record.mode === (st.mode & 0o7777)
  );
}

function bump(vv: VersionVector | undefined, site: string): VersionVector {
  return { ...vv, [site]: (vv?.[site] ?? 0) + 1 };
}

/**
 * Reads a file into chunk references; `buffer` (see windowSize) is reused across files to spare the
 * GC. A small file (`sizeHint` up to one max chunk) is read synchronously and, when `keep` is
 * given, its content is handed to it.
 */
export async function chunkFile(
  path: string,
  chunker: Chunker,
  buffer?: Buffer,
  sizeHint?: number,
  keep?: (data: Buffer) => void,
): Promise<ChunkRef[]> {
  if (sizeHint !== undefined && sizeHint <= chunker.params.maxBytes) return chunkSmallFile(path, chunker, buffer, keep);
  const handle = await open(path, 'r');
  try {
    const chunks: ChunkRef[] = [];
    await splitChunks(
      chunker,
      async (buf, position) => (await handle.read(buf, 0, buf.length, position)).bytesRead,
      (cut) => {
        chunks.push([cut.hash, cut.sizeBytes]);
      },
      buffer,
    );
    return chunks;
  } finally {
    await handle.close();
  }
}

/**
 * A file that fits in one read, read synchronously: for trees of many small files the thread-pool
 * round trips of async open/read/close cost more than the reads.
 */
async function chunkSmallFile(
  path: string,
  chunker: Chunker,
  buffer?: Buffer,
  keep?: (data: Buffer) => void,
): Promise<ChunkRef[]> {
  const fd = openSync(path, 'r');
  try {
    const chunks: ChunkRef[] = [];
    const read: Buffer[] = [];
    const reader = (buf: Buffer, position: number) => {
      const n = readSync(fd, buf, 0, buf.length, position);
      if (keep && n > 0) read.push(Buffer.from(buf.subarray(0, n))); // reads come in file order
      return Promise.resolve(n);
    };
    await splitChunks(chunker, reader, (cut) => void chunks.push([cut.hash, cut.sizeBytes]), buffer);
    if (keep) keep(read.length === 1 ? read[0]! : Buffer.concat(read));
    return chunks;
  } finally {
    closeSync(fd);
  }
}

function sameRecord(a: IndexRecord, b: IndexRecord): boolean {
  return (
    a.type === b.type &&
    a.sizeBytes === b.sizeBytes &&
    a.mtimeMs === b.mtimeMs &&
    a.ctimeMs === b.ctimeMs &&
    a.ino === b.ino &&
    a.mode === b.mode &&
    a.target === b.target &&
    a.vv === b.vv &&
    (a.chunks === b.chunks || JSON.stringify(a.chunks) === JSON.stringify(b.chunks))
  );
}

export async function scanTree(rootDir: string, options: ScanOptions): Promise<TreeVersion> {
  const { index, chunker, site } = options;
  const nodes = new NodeSet();
  const locations = new Map<Hash, ChunkLocation>();
  const files: TreeVersion['files'] = new Map();
  const stats: ScanStats = {
    files: 0,
    dirs: 0,
    logicalBytes: 0,
    readFiles: 0,
    readBytes: 0,
    skippedNames: 0,
    skippedExamples: [],
  };
  const seen = new Set<string>();
  const buffer = Buffer.allocUnsafe(windowSize(chunker));
  const held = new Map<Hash, Buffer>();
  let heldBytes = 0;

  const record = (
    path: string,
    st: Stats,
    type: IndexRecord['type'],
    extra: Partial<IndexRecord>,
    changed: boolean,
  ): IndexRecord => {
    const previous = index.records.get(path);
    const next: IndexRecord = {
      type,
      sizeBytes: st.size,
      mtimeMs: st.mtimeMs,
      ctimeMs: st.ctimeMs,
      ino: st.ino,
      mode: st.mode & 0o7777,
      ...extra,
      vv: changed || !previous?.vv ? bump(previous?.vv, site) : previous.vv,
    };
    seen.add(path);
    if (previous && sameRecord(previous, next)) return previous;
    index.records.set(path, next);
    index.dirty = true;
    return next;
  };

  const skip = (shown: string) => {
    if (stats.skippedNames++ < SKIPPED_EXAMPLES_MAX) stats.skippedExamples.push(shown);
  };
  /** A symlink's target as text; undefined (and reported) when it is not UTF-8 or the link is gone. */
  const readTarget = (rel: string): string | undefined => {
    let raw: Buffer;
    try {
      raw = readlinkSync(join(rootDir, rel), { encoding: 'buffer' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
    const target = textOf(raw);
    if (target === undefined) skip(`${rel} -> ${shownName(raw)}`);
    return target;
  };

  const since = options.since;
  const onPath = since ? ancestorsOf(since.changed) : new Set<string>();

  /** Takes the unchanged subtree `hash` at `relDir` from the previous version, as a scan would have seen it. */
  const reuse = (relDir: string, hash: Hash, previous: TreeVersion): void => {
    const copy = (h: Hash): void => {
      const bytes = previous.nodes.bytes.get(h);
      if (bytes) nodes.addEncoded(bytes, h);
    };
    copy(hash);
    for (const { path, entry } of walk(previous.nodes, hash, relDir)) {
      seen.add(path);
      if (entry.type === 'dir') {
        copy(entry.node);
        stats.dirs++;
      } else if (entry.type === 'file') {
        for (const [h] of entry.blocks ?? []) copy(h);
        const file = previous.files.get(path);
        if (file) files.set(path, file);
        let offset = 0;
        for (const [h, sizeBytes] of entryChunks(entry, previous.nodes)) {
          if (!locations.has(h)) locations.set(h, { path, offset, sizeBytes });
          offset += sizeBytes;
        }
        stats.files++;
        stats.logicalBytes += entry.sizeBytes;
      }
    }
  };

  /** The subdirectories of directory node `dirNode` of the previous version, by name. */
  const previousDirs = (dirNode: Hash | undefined): Map<string, Hash> => {
    const out = new Map<string, Hash>();
    const node = dirNode && since ? since.previous.nodes.get(dirNode) : undefined;
    if (node?.type === 'dir') for (const e of node.entries) if (e.type === 'dir') out.set(e.name, e.node);
    return out;
  };

  /** `previousNode`: this directory in the previous version, while no changed path is at or above it. */
  const scanDir = async (relDir: string, previousNode?: Hash): Promise<Hash> => {
    const entries: Entry[] = [];
    const priorDirs = previousDirs(previousNode);
    const { names, skipped } = listNames(relDir ? join(rootDir, relDir) : rootDir);
    for (const raw of skipped) skip(relDir ? `${relDir}/${shownName(raw)}` : shownName(raw));
    names.sort();
    for (const name of names) {
      const rel = relDir ? `${relDir}/${name}` : name;
      if (options.exclude?.(rel)) continue;
      // Gone since the listing (an application deleting as we scan): the next scan sees what is there.
      const st = lstatSync(join(rootDir, rel), { throwIfNoEntry: false });
      if (!st) continue;
      const previous = index.records.get(rel);
      if (st.isFile()) {
        let chunks: ChunkRef[];
        let changed = false;
        if (unchanged(previous, st, 'file') && previous.chunks) {
          chunks = previous.chunks;
        } else {
          let data: Buffer | undefined;
          const read = await vanishedAsUndefined(() =>
            chunkFile(
              join(rootDir, rel),
              chunker,
              buffer,
              st.size,
              heldBytes + st.size <= HELD_BYTES_MAX ? (d) => (data = d) : undefined,
            ),
          );
          if (!read) continue;
          chunks = read;
          if (data && data.length === st.size) {
            let at = 0;
            for (const [hash, size] of chunks) held.set(hash, data.subarray(at, (at += size)));
            heldBytes += st.size;
          }
          stats.readFiles++;
          stats.readBytes += st.size;
          changed =
            JSON.stringify(chunks) !== JSON.stringify(previous?.chunks) || previous?.mode !== (st.mode & 0o7777);
        }
        const rec = record(rel, st, 'file', { chunks }, changed);
        files.set(rel, { sizeBytes: st.size, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });
        let offset = 0;
        for (const [hash, sizeBytes] of chunks) {
          if (!locations.has(hash)) locations.set(hash, { path: rel, offset, sizeBytes });
          offset += sizeBytes;
        }
        stats.files++;
        stats.logicalBytes += st.size;
        entries.push({
          type: 'file',
          name,
          mode: rec.mode,
          mtimeMs: Math.trunc(st.mtimeMs),
          sizeBytes: st.size,
          ...fileChunks(chunks, nodes),
          vv: rec.vv,
        });
      } else if (st.isDirectory()) {
        const prior = since && !since.changed.has(rel) ? priorDirs.get(name) : undefined;
        let node: Hash;
        if (prior && !onPath.has(rel)) {
          reuse(rel, prior, since!.previous);
          node = prior;
        } else {
          node = await scanDir(rel, prior);
        }
        const rec = record(rel, st, 'dir', {}, previous?.type !== 'dir' || previous.mode !== (st.mode & 0o7777));
        stats.dirs++;
        entries.push({ type: 'dir', name, mode: rec.mode, mtimeMs: Math.trunc(st.mtimeMs), node, vv: rec.vv });
      } else if (st.isSymbolicLink()) {
        const target = unchanged(previous, st, 'symlink') && previous.target ? previous.target : readTarget(rel);
        if (target === undefined) continue;
        const rec = record(rel, st, 'symlink', { target }, previous?.target !== target);
        entries.push({ type: 'symlink', name, target, mtimeMs: Math.trunc(st.mtimeMs), vv: rec.vv });
      }
      // Sockets, FIFOs and devices are not data; they are left out of the manifest.
    }
    return nodes.add({ v: 1, type: 'dir', entries: sortEntries(entries) });
  };

  const root = await scanDir('', since && !since.changed.has('') ? since.previous.root : undefined);
  for (const path of [...index.records.keys()]) {
    if (seen.has(path)) continue;
    index.records.delete(path);
    index.dirty = true;
  }
  return { root, nodes, locations, files, held, stats };
}
