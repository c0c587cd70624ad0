/**
 * The receiving end of a DataFlow at one site: what version the tree is at, which manifest nodes
 * and chunks it lacks, and committing a new version so that every file appears whole.
 *
 * Commit is two-phase. First every new or changed file is built under `<state>/tmp` (same
 * filesystem as the tree), fsynced, with its mode and mtime set; nothing in the tree has changed
 * yet, and a missing chunk aborts here. Then a journal naming every move is written atomically and
 * the moves run: removed paths go to the quarantine, files are renamed into place, directories get
 * their metadata last. A crash during the moves is finished from the journal on restart, so the
 * tree ends at the new version; a crash before the journal leaves it at the old one.
 */
import {
  chmodSync, closeSync, existsSync, fsyncSync, ftruncateSync, futimesSync, lstatSync, lutimesSync, mkdirSync, openSync,
  readdirSync, readFileSync, readSync, realpathSync, renameSync, rmSync, symlinkSync, utimesSync, writeSync,
} from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fsyncDir, writeFileAtomic } from '../../lib/durable.js';
import { chunkHash } from './chunker.js';
import { ChunkPacks } from './chunk-packs.js';
import { decodeNode, entryChunks, NodeSet, walk, type FileEntry, type Hash } from './manifest.js';
import { planApply, type ApplyPlan } from './plan.js';
import type { ChunkLocation } from './scan.js';

/** Finds chunks in other trees this site holds (dedup across DataFlows of one instance). */
export interface ChunkLocator {
  has(hash: Hash): boolean;
  read(hash: Hash): Buffer | undefined;
}

export interface ReceiverOptions {
  /** Where the DataFlow's files live. */
  treeDir: string;
  /** Receiver state: packs, temp files, journal, quarantine. Must be on the tree's filesystem. */
  stateDir: string;
  /** How long removed paths stay in the quarantine. */
  deletedRetentionMs: number;
  locator?: ChunkLocator;
  now?: () => number;
}

interface Journal {
  root: Hash;
  quarantine: string;
  plan: ApplyPlan;
  /** Temp file per plan.writes index. */
  temps: string[];
  /** Every manifest node of the new version, so a restart can finish without the sender. */
  nodes: Record<Hash, string>;
}

export interface CommitResult {
  applied: boolean;
  /** Chunks the commit needs that this site does not hold (the sender must send them first). */
  missingChunks: Hash[];
  missingNodes: Hash[];
  files?: number;
}

export class Receiver {
  private appliedRoot: Hash | undefined;
  private readonly applied = new NodeSet();
  private readonly incoming = new NodeSet();
  private readonly packs: ChunkPacks;
  private locationCache: Map<Hash, ChunkLocation> | undefined;

  constructor(private readonly options: ReceiverOptions) {
    mkdirSync(options.stateDir, { recursive: true });
    mkdirSync(options.treeDir, { recursive: true });
    if (lstatSync(options.stateDir).dev !== lstatSync(options.treeDir).dev) {
      throw new Error(`stateDir ${options.stateDir} must be on the same filesystem as treeDir ${options.treeDir} (files are renamed into place)`);
    }
    this.packs = new ChunkPacks(join(options.stateDir, 'packs'));
    this.loadApplied();
    const journal = this.readJournal();
    if (journal) this.finish(journal);
  }

  private file(name: string): string {
    return join(this.options.stateDir, name);
  }

  private loadApplied(): void {
    if (!existsSync(this.file('current.json'))) return;
    const current = JSON.parse(readFileSync(this.file('current.json'), 'utf8')) as { root: Hash; nodes: Record<Hash, string> };
    for (const [hash, text] of Object.entries(current.nodes)) this.applied.addEncoded(Buffer.from(text), hash);
    this.appliedRoot = current.root;
  }

  private readJournal(): Journal | undefined {
    if (!existsSync(this.file('journal.json'))) return undefined;
    return JSON.parse(readFileSync(this.file('journal.json'), 'utf8')) as Journal;
  }

  /** The root of the version the tree is at, or undefined before the first commit. */
  get root(): Hash | undefined {
    return this.appliedRoot;
  }

  private node(hash: Hash): Buffer | undefined {
    return this.incoming.bytes.get(hash) ?? this.applied.bytes.get(hash);
  }

  missingNodes(hashes: Hash[]): Hash[] {
    return hashes.filter((h) => this.node(h) === undefined);
  }

  /** Stores a manifest node after checking it matches its hash and is well formed. */
  putNode(hash: Hash, bytes: Buffer): void {
    decodeNode(bytes, hash);
    this.incoming.addEncoded(bytes, hash);
  }

  private locations(): Map<Hash, ChunkLocation> {
    if (!this.locationCache) {
      this.locationCache = new Map();
      if (this.appliedRoot) {
        for (const { path, entry } of walk(this.applied, this.appliedRoot)) {
          if (entry.type !== 'file') continue;
          let offset = 0;
          for (const [hash, sizeBytes] of entryChunks(entry, this.applied)) {
            if (!this.locationCache.has(hash)) this.locationCache.set(hash, { path, offset, sizeBytes });
            offset += sizeBytes;
          }
        }
      }
    }
    return this.locationCache;
  }

  /** True when this DataFlow's packs or files hold the chunk (no other DataFlow asked). */
  holds(hash: Hash): boolean {
    return this.packs.has(hash) || this.locations().has(hash);
  }

  /** True when this site can produce the chunk without the sender. */
  hasChunk(hash: Hash): boolean {
    return this.holds(hash) || (this.options.locator?.has(hash) ?? false);
  }

  missingChunks(hashes: Hash[]): Hash[] {
    return hashes.filter((h) => !this.hasChunk(h));
  }

  /** Stages a chunk the caller has verified against its hash. */
  putChunk(hash: Hash, data: Buffer): void {
    this.packs.put(hash, data);
  }

  /** Reads a chunk from the packs, this tree or another; verifies what it reads from files. */
  readChunk(hash: Hash): Buffer | undefined {
    return this.readOwn(hash) ?? this.options.locator?.read(hash);
  }

  /** Reads a chunk from this DataFlow's packs or files only. */
  readOwn(hash: Hash): Buffer | undefined {
    const packed = this.packs.read(hash);
    if (packed) return packed;
    const at = this.locations().get(hash);
    if (at) {
      const data = readRange(join(this.options.treeDir, at.path), at.offset, at.sizeBytes);
      if (data && chunkHash(data) === hash) return data;
      this.locations().delete(hash); // the file changed under us: the chunk must come from the sender
    }
    return undefined;
  }

  /** Makes `root` the tree's version. Idempotent; returns what is missing instead when it cannot. */
  commit(root: Hash): CommitResult {
    if (root === this.appliedRoot) return { applied: true, missingChunks: [], missingNodes: [] };
    const nodes = new NodeSet();
    const missingNodes: Hash[] = [];
    this.collect(root, nodes, missingNodes);
    if (this.appliedRoot) this.collect(this.appliedRoot, nodes, []);
    if (missingNodes.length) return { applied: false, missingChunks: [], missingNodes };

    const plan = planApply(nodes, this.appliedRoot, root);
    const missingChunks = new Set<Hash>();
    for (const { entry } of plan.writes) {
      if (entry.type === 'file') for (const [hash] of entryChunks(entry, nodes)) if (!this.hasChunk(hash)) missingChunks.add(hash);
    }
    if (missingChunks.size) return { applied: false, missingChunks: [...missingChunks], missingNodes: [] };

    const tmpDir = this.file('tmp');
    rmSync(tmpDir, { recursive: true, force: true });
    mkdirSync(tmpDir, { recursive: true });
    const temps: string[] = [];
    for (const [i, { entry }] of plan.writes.entries()) {
      const tmp = join(tmpDir, String(i));
      if (entry.type === 'symlink') {
        symlinkSync(entry.target, tmp);
        lutimesSync(tmp, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
      } else {
        const missing = this.build(tmp, entry, nodes);
        if (missing) {
          rmSync(tmpDir, { recursive: true, force: true });
          return { applied: false, missingChunks: [missing], missingNodes: [] };
        }
      }
      temps.push(tmp);
    }
    fsyncDir(tmpDir);
    const journal: Journal = { root, quarantine: String(this.now()), plan, temps, nodes: encodeNodes(nodes) };
    writeFileAtomic(this.file('journal.json'), JSON.stringify(journal));
    this.finish(journal);
    return { applied: true, missingChunks: [], missingNodes: [], files: plan.writes.length };
  }

  private now(): number {
    return (this.options.now ?? Date.now)();
  }

  /** Adds the nodes reachable from `root` to `into`; records the ones this site lacks. */
  private collect(root: Hash, into: NodeSet, missing: Hash[]): void {
    const stack = [root];
    while (stack.length) {
      const hash = stack.pop()!;
      if (into.has(hash)) continue;
      const bytes = this.node(hash);
      if (!bytes) {
        missing.push(hash);
        continue;
      }
      into.addEncoded(bytes, hash);
      const node = decodeNode(bytes);
      if (node.type !== 'dir') continue;
      for (const e of node.entries) {
        if (e.type === 'dir') stack.push(e.node);
        else if (e.type === 'file' && e.blocks) for (const [h] of e.blocks) stack.push(h);
      }
    }
  }

  /** Writes a file's content to `tmp`; returns the hash of a chunk it could not find. */
  private build(tmp: string, entry: FileEntry, nodes: NodeSet): Hash | undefined {
    const fd = openSync(tmp, 'w', 0o600);
    try {
      let position = 0;
      let last: { hash: Hash; data: Buffer; zero: boolean } | undefined; // runs of one chunk (zeros) are common
      for (const [hash, sizeBytes] of entryChunks(entry, nodes)) {
        if (last?.hash !== hash) {
          const data = this.readChunk(hash);
          if (!data) return hash;
          last = { hash, data, zero: isZero(data) };
        }
        if (!last.zero) writeAllAt(fd, last.data, position); // all-zero chunks stay holes: sparse files stay sparse
        position += sizeBytes;
      }
      ftruncateSync(fd, entry.sizeBytes);
      fsyncSync(fd);
      chmodSync(tmp, entry.mode);
      futimesSync(fd, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /** Runs a journal's moves; every step checks what is already done, so it can run twice. */
  private finish(journal: Journal): void {
    const tree = this.options.treeDir;
    const quarantine = join(this.file('quarantine'), journal.quarantine);
    const touchedDirs = new Set<string>();
    const toQuarantine = (path: string) => {
      const from = join(tree, path);
      if (!lexists(from)) return;
      const to = join(quarantine, path);
      mkdirSync(dirname(to), { recursive: true });
      renameSync(from, to);
      touchedDirs.add(dirname(from));
    };
    const { plan } = journal;
    for (const path of plan.removes) toQuarantine(path);
    for (const path of plan.mkdirs) {
      const at = join(tree, path);
      if (lexists(at) && !lstatSync(at).isDirectory()) toQuarantine(path);
      this.checkInside(dirname(at));
      mkdirSync(at, { recursive: true });
    }
    for (const [i, { path }] of plan.writes.entries()) {
      const tmp = journal.temps[i]!;
      if (!lexists(tmp)) continue; // moved before a crash
      const at = join(tree, path);
      if (lexists(at) && lstatSync(at).isDirectory()) toQuarantine(path);
      this.checkInside(dirname(at));
      renameSync(tmp, at);
      touchedDirs.add(dirname(at));
    }
    for (const { path, entry } of plan.touches) {
      const at = join(tree, path);
      chmodSync(at, entry.mode);
      utimesSync(at, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
    }
    for (const dir of touchedDirs) if (existsSync(dir)) fsyncDir(dir);
    for (const { path, entry } of plan.dirMeta) {
      const at = join(tree, path);
      chmodSync(at, entry.mode);
      utimesSync(at, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
    }
    writeFileAtomic(this.file('current.json'), JSON.stringify({ root: journal.root, nodes: journal.nodes }));
    rmSync(this.file('journal.json'), { force: true });
    rmSync(this.file('tmp'), { recursive: true, force: true });
    this.packs.clear();
    this.applied.bytes.clear();
    for (const [h, text] of Object.entries(journal.nodes)) this.applied.addEncoded(Buffer.from(text), h);
    this.incoming.bytes.clear();
    this.appliedRoot = journal.root;
    this.locationCache = undefined;
    this.purgeQuarantine();
  }

  /** Refuses to write through a symlink that leads out of the tree. */
  private checkInside(dir: string): void {
    const real = realpathSync(existsSync(dir) ? dir : this.options.treeDir);
    const top = realpathSync(this.options.treeDir);
    if (real !== top && !real.startsWith(top + sep)) throw new Error(`refusing to write under ${dir}: it resolves outside the tree (${real})`);
  }

  /** Drops quarantined versions older than the retention. */
  purgeQuarantine(): void {
    const dir = this.file('quarantine');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (Number(name) + this.options.deletedRetentionMs <= this.now()) rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  close(): void {
    this.packs.close();
  }
}

function encodeNodes(nodes: NodeSet): Record<Hash, string> {
  return Object.fromEntries([...nodes.bytes].map(([hash, bytes]) => [hash, bytes.toString()]));
}

/** utimes takes seconds as a double; half a millisecond more keeps the whole milliseconds exact. */
export function timeOf(mtimeMs: number): number {
  return (mtimeMs + 0.5) / 1000;
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function isZero(data: Buffer): boolean {
  for (let i = 0; i < data.length; i += ZERO.length) {
    const n = Math.min(ZERO.length, data.length - i);
    if (!data.subarray(i, i + n).equals(ZERO.subarray(0, n))) return false;
  }
  return true;
}
const ZERO = Buffer.alloc(1024 * 1024);

function writeAllAt(fd: number, data: Buffer, position: number): void {
  let done = 0;
  while (done < data.length) done += writeSync(fd, data, done, data.length - done, position + done);
}

function readRange(path: string, offset: number, sizeBytes: number): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.allocUnsafe(sizeBytes);
    let done = 0;
    while (done < sizeBytes) {
      const n = readSync(fd, buf, done, sizeBytes - done, offset + done);
      if (n === 0) return undefined;
      done += n;
    }
    return buf;
  } finally {
    closeSync(fd);
  }
}
