/**
 * Snapshots and virtual copies on the instance's filesystem (docs/architecture.md#snapshots-and-copies).
 *
 * A snapshot is a directory `<snapshots of the DataFlow>/<id>/` holding `tree/` (the files, read
 * only by convention), `manifest.json` (the merkle manifest of `tree/`, so its root is the
 * snapshot's identity and its chunk lists say what it shares with others) and `snapshot.json`.
 * Files unchanged since the DataFlow's newest older snapshot are hard links to that snapshot's,
 * so a snapshot costs only what changed; other files are reflinked where the filesystem can.
 *
 * A virtual copy is a writable copy of a snapshot's tree (or of a live DataFlow) at its own
 * access point, recorded with the root it started from.
 *
 * Both are built under a `.<name>.partial` sibling and renamed into place at the end, so a crash
 * leaves no snapshot or a whole one, never half of one; running the same request again after a
 * crash or a lost reply finishes or reports the same result.
 */
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fsyncPath, writeFileAtomic } from '../../lib/durable.js';
import { Chunker } from '../engine/chunker.js';
import { entryChunks, NodeSet, walk, type Hash } from '../engine/manifest.js';
import { scanTree } from '../engine/scan.js';
import { TreeIndex } from '../engine/tree-index.js';
import { copyTree, type CopyStats } from './tree-copy.js';

const TREE = 'tree';
const MANIFEST = 'manifest.json';
const RECORD = 'snapshot.json';
const FORMAT = 1;

/** What `kmesh snapshot take` reports, and what snapshot.json holds. */
export interface SnapshotRecord {
  format: typeof FORMAT;
  /** `<namespace>/<name>` of the Snapshot object, for a person reading the directory. */
  snapshot: string;
  creationTime: string;
  rootHash: Hash;
  fileCount: number;
  logicalBytes: number;
  /** Bytes of distinct chunks that the DataFlow's previous snapshot did not hold. */
  uniqueBytes: number;
  /** Files hard-linked from the previous snapshot, which cost no space. */
  linkedFiles: number;
  /** The snapshot the unchanged files are shared with, if any. */
  previous?: string;
}

/** What `kmesh snapshot copy` reports. */
export interface CopyRecord {
  rootHash: Hash;
  fileCount: number;
  logicalBytes: number;
}

/** The manifest of a tree's content. Every copy of the same content gets the same root. */
export async function contentManifest(
  dir: string,
): Promise<{ root: Hash; nodes: NodeSet; files: number; logicalBytes: number }> {
  // A fresh index and a fixed site name: the root depends on the content and metadata only.
  const version = await scanTree(dir, { index: new TreeIndex(), chunker: new Chunker(), site: 'content' });
  return {
    root: version.root,
    nodes: version.nodes,
    files: version.stats.files,
    logicalBytes: version.stats.logicalBytes,
  };
}

/** Chunk hash → size of every chunk a manifest's files reference. */
function chunksOf(root: Hash, nodes: NodeSet): Map<Hash, number> {
  const chunks = new Map<Hash, number>();
  for (const { entry } of walk(nodes, root)) {
    if (entry.type === 'file') for (const [hash, size] of entryChunks(entry, nodes)) chunks.set(hash, size);
  }
  return chunks;
}

const partialOf = (dir: string): string => join(dirname(dir), `.${basename(dir)}.partial`);

export function readSnapshotRecord(dir: string): SnapshotRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(join(dir, RECORD), 'utf8')) as SnapshotRecord;
    return record.format === FORMAT ? record : undefined;
  } catch {
    return undefined;
  }
}

/** The tree of files of the snapshot at `dir`. */
export const snapshotTree = (dir: string): string => join(dir, TREE);

/** The newest complete snapshot beside `dir` (the same DataFlow's), other than `dir` itself. */
function newestSibling(dir: string): { dir: string; record: SnapshotRecord } | undefined {
  const parent = dirname(dir);
  if (!existsSync(parent)) return undefined;
  let newest: { dir: string; record: SnapshotRecord } | undefined;
  for (const name of readdirSync(parent)) {
    const sibling = join(parent, name);
    if (name.startsWith('.') || sibling === dir) continue;
    const record = readSnapshotRecord(sibling);
    if (record && (!newest || record.creationTime > newest.record.creationTime)) newest = { dir: sibling, record };
  }
  return newest;
}

export interface TakeOptions {
  /** The DataFlow's tree (its access point). */
  tree: string;
  /** Where the snapshot goes; its parent holds the DataFlow's other snapshots. */
  into: string;
  /** `<namespace>/<name>` of the Snapshot object. */
  snapshot: string;
  now?: () => Date;
}

/** Takes a snapshot of `tree` into `into`; returns the record of the one already there, if any. */
export async function takeSnapshot(options: TakeOptions): Promise<SnapshotRecord> {
  const existing = readSnapshotRecord(options.into);
  if (existing) return existing;
  if (!lstatSync(options.tree).isDirectory()) throw new Error(`${options.tree} is not a directory`);
  const partial = partialOf(options.into);
  rmSync(partial, { recursive: true, force: true }); // what a crash left
  const previous = newestSibling(options.into);
  const creationTime = (options.now ?? (() => new Date()))().toISOString();
  mkdirSync(partial, { recursive: true, mode: 0o700 });
  const copied: CopyStats = copyTree(
    options.tree,
    join(partial, TREE),
    previous ? { linkFrom: snapshotTree(previous.dir) } : {},
  );
  // The manifest is of what was retained, so a file that changed during the copy is described as kept.
  const manifest = await contentManifest(join(partial, TREE));
  const older = previous
    ? chunksOf(previous.record.rootHash, new NodeSet().addRecord(readManifest(previous.dir)))
    : new Map<Hash, number>();
  let uniqueBytes = 0;
  for (const [hash, size] of chunksOf(manifest.root, manifest.nodes)) if (!older.has(hash)) uniqueBytes += size;
  const record: SnapshotRecord = {
    format: FORMAT,
    snapshot: options.snapshot,
    creationTime,
    rootHash: manifest.root,
    fileCount: manifest.files,
    logicalBytes: manifest.logicalBytes,
    uniqueBytes,
    linkedFiles: copied.linkedFiles,
    ...(previous ? { previous: previous.record.snapshot } : {}),
  };
  writeFileAtomic(join(partial, MANIFEST), JSON.stringify({ root: manifest.root, nodes: manifest.nodes.toRecord() }));
  writeFileAtomic(join(partial, RECORD), JSON.stringify(record));
  renameSync(partial, options.into);
  fsyncPath(dirname(options.into));
  return record;
}

function readManifest(dir: string): Record<Hash, string> {
  return (JSON.parse(readFileSync(join(dir, MANIFEST), 'utf8')) as { nodes: Record<Hash, string> }).nodes;
}

export interface MaterializeOptions {
  /** The tree to copy: a snapshot's tree, or a live DataFlow's. */
  from: string;
  /** The copy's access point; must not be inside `from`. */
  into: string;
  /** The root `from` is known to have (a snapshot's): the copy must have it too. */
  expectRoot?: Hash;
}

/**
 * Makes a writable copy of `from` at `into`. A copy already there is reported as it is: nobody
 * writes to it before it is reported ready, so it is still the copy that was made.
 */
export async function materializeCopy(options: MaterializeOptions): Promise<CopyRecord> {
  if (!existsSync(options.into)) {
    const partial = partialOf(options.into);
    rmSync(partial, { recursive: true, force: true });
    mkdirSync(dirname(options.into), { recursive: true });
    copyTree(options.from, partial);
    renameSync(partial, options.into);
    fsyncPath(dirname(options.into));
  }
  const manifest = await contentManifest(options.into);
  if (options.expectRoot && manifest.root !== options.expectRoot) {
    throw new Error(
      `the copy at ${options.into} has root ${manifest.root}, not its source's ${options.expectRoot}; the source changed or the copy was altered`,
    );
  }
  return { rootHash: manifest.root, fileCount: manifest.files, logicalBytes: manifest.logicalBytes };
}

/** Removes a snapshot or copy and whatever an interrupted build left; nothing there is fine. */
export function removeTree(dir: string): void {
  rmSync(partialOf(dir), { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
  if (existsSync(dirname(dir))) fsyncPath(dirname(dir));
}
