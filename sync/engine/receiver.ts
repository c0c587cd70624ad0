/**
 * The receiving end of a DataFlow at one site: what version the tree is at, which manifest nodes
 * and chunks it lacks, and committing a new version so that every file appears whole.
 *
 * Commit is two-phase. First every new or changed file is built under `<state>/tmp` (same
 * filesystem as the tree; see staging.ts: chunks are written there as they arrive, and the rest
 * comes from files this site already holds), made durable, with its mode and mtime set; nothing in
 * the tree has changed yet, and a missing chunk stops here. Chunks that belong to no staged
 * version go to packs (chunk-packs.ts). Then a journal naming every move is written atomically and
 * the moves run: removed paths go to the quarantine, files are renamed into place, directories get
 * their metadata last. A crash during the moves is finished from the journal on restart, so the
 * tree ends at the new version; a crash before the journal leaves it at the old one.
 */
import {
  chmodSync,
  closeSync,
  existsSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  realpathSync,
  renameSync,
  rmSync,
  utimesSync,
} from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fsyncPath, writeFileAtomic } from '../../lib/durable.js';
import { chunkHash } from './chunker.js';
import { ChunkPacks } from './chunk-packs.js';
import { decodeNode, entryChunks, NodeSet, walk, type Entry, type Hash } from './manifest.js';
import { planApply, type ApplyPlan } from './plan.js';
import type { ChunkLocation } from './scan.js';
import { Staging, timeOf } from './staging.js';

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
  /** Temp file per plan.writes index (finished: content, mode and mtime set, durable). */
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
  /** The version being received, if any (its files fill as chunks arrive). */
  private staging: Staging | undefined;

  constructor(private readonly options: ReceiverOptions) {
    mkdirSync(options.stateDir, { recursive: true });
    mkdirSync(options.treeDir, { recursive: true });
    if (lstatSync(options.stateDir).dev !== lstatSync(options.treeDir).dev) {
      throw new Error(
        `stateDir ${options.stateDir} must be on the same filesystem as treeDir ${options.treeDir} (files are renamed into place)`,
      );
    }
    this.packs = new ChunkPacks(join(options.stateDir, 'packs'));
    this.loadApplied();
    const journal = this.readJournal();
    if (journal) this.finish(journal);
    else this.resumeStaging();
  }

  /**
   * Takes up a staging a stopped receiver left. Not one of the version already applied (a stop
   * between writing current.json and removing the staging), nor a half-created one: those go.
   */
  private resumeStaging(): void {
    const staged = Staging.load(this.file('tmp'));
    if (staged && staged.root !== this.appliedRoot) this.staging = staged;
    else if (staged) staged.drop();
    else rmSync(this.file('tmp'), { recursive: true, force: true });
  }

  private file(name: string): string {
    return join(this.options.stateDir, name);
  }

  private loadApplied(): void {
    if (!existsSync(this.file('current.json'))) return;
    const current = JSON.parse(readFileSync(this.file('current.json'), 'utf8')) as {
      root: Hash;
      nodes: Record<Hash, string>;
    };
    this.applied.addRecord(current.nodes);
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

  /**
   * Which of these manifest nodes the sender must send, and descend into. Only a node of the
   * applied version counts as held: there, every chunk below it is in the tree. A node received
   * for a version not committed yet (a pass cut short, a sender killed) is asked for again, so the
   * sender offers the chunks below it and the answer to missingChunks covers them; otherwise the
   * commit would find chunks no one ever offered.
   */
  missingNodes(hashes: Hash[]): Hash[] {
    return hashes.filter((h) => !this.applied.bytes.has(h));
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

  /** True when this DataFlow's staging, packs or files hold the chunk (no other DataFlow asked). */
  holds(hash: Hash): boolean {
    return (this.staging?.has(hash) ?? false) || this.packs.has(hash) || this.locations().has(hash);
  }

  /** True when this site can produce the chunk without the sender. */
  hasChunk(hash: Hash): boolean {
    return this.holds(hash) || (this.options.locator?.has(hash) ?? false);
  }

  /**
   * Which chunks this site lacks. With `root` (the version they belong to, its nodes all here),
   * the files of that version are prepared so chunks go straight into them as they arrive.
   */
  missingChunks(hashes: Hash[], root?: Hash): Hash[] {
    if (root && root !== this.appliedRoot) this.stageFor(root);
    return hashes.filter((h) => !this.hasChunk(h));
  }

  /** Stores a chunk the caller has verified against its hash: into the staged files, else a pack. */
  putChunk(hash: Hash, data: Buffer): void {
    if (!this.staging?.place(hash, data)) this.packs.put(hash, data);
  }

  /** The staging of `root`, creating it (and giving up another) when needed; undefined while nodes are missing. */
  private stageFor(root: Hash, missingNodes: Hash[] = []): Staging | undefined {
    if (this.staging?.root === root) return this.staging;
    const nodes = new NodeSet();
    this.collect(root, nodes, missingNodes);
    if (this.appliedRoot) this.collect(this.appliedRoot, nodes, []);
    if (missingNodes.length) return undefined;
    if (this.staging) {
      this.staging.salvage((hash, data) => this.packs.put(hash, data)); // chunks already received are not asked for again
      this.staging.drop();
    }
    const plan = planApply(nodes, this.appliedRoot, root);
    const old = new Map<string, Entry>(
      this.appliedRoot ? [...walk(this.applied, this.appliedRoot)].map(({ path, entry }) => [path, entry]) : [],
    );
    this.staging = Staging.create(
      this.file('tmp'),
      root,
      plan,
      (entry) => entryChunks(entry, nodes),
      (path) => {
        const entry = old.get(path);
        return entry?.type === 'file'
          ? { absPath: join(this.options.treeDir, path), entry, chunks: entryChunks(entry, this.applied) }
          : undefined;
      },
    );
    this.reachable = nodes;
    return this.staging;
  }

  /** Reads a chunk from the packs, this tree or another; verifies what it reads from files. */
  readChunk(hash: Hash): Buffer | undefined {
    return this.readOwn(hash) ?? this.options.locator?.read(hash);
  }

  /** Reads a chunk from this DataFlow's staging, packs or files only (what holds() counts). */
  readOwn(hash: Hash): Buffer | undefined {
    const packed = this.staging?.read(hash) ?? this.packs.read(hash);
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
    const missingNodes: Hash[] = [];
    const staging = this.stageFor(root, missingNodes);
    if (!staging) return { applied: false, missingChunks: [], missingNodes };
    let nodes = this.reachable;
    if (!nodes) {
      // A staging reloaded after a restart: the sender sends the nodes again first.
      nodes = new NodeSet();
      this.collect(root, nodes, missingNodes);
      if (missingNodes.length) return { applied: false, missingChunks: [], missingNodes };
      this.reachable = nodes;
    }
    const missingChunks = staging.fill((hash) => this.readChunk(hash));
    if (missingChunks.length) return { applied: false, missingChunks, missingNodes: [] };
    staging.finish();
    const plan = staging.plan;
    const journal: Journal = {
      root,
      quarantine: String(this.now()),
      plan,
      temps: plan.writes.map((_, i) => staging.temp(i)),
      nodes: nodes.toRecord(),
    };
    writeFileAtomic(this.file('journal.json'), JSON.stringify(journal));
    this.finish(journal);
    return { applied: true, missingChunks: [], missingNodes: [], files: plan.writes.length };
  }

  /** The nodes of the staged version (kept from staging to commit; recomputed after a restart). */
  private reachable: NodeSet | undefined;

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
    const checked = new Set<string>(); // directories already known to resolve inside the tree
    const inside = (dir: string) => {
      if (checked.has(dir)) return;
      this.checkInside(dir);
      checked.add(dir);
    };
    for (const path of plan.mkdirs) {
      const at = join(tree, path);
      const st = lstatSync(at, { throwIfNoEntry: false });
      if (st && !st.isDirectory()) toQuarantine(path);
      inside(dirname(at));
      mkdirSync(at, { recursive: true });
    }
    for (const [i, { path }] of plan.writes.entries()) {
      const tmp = journal.temps[i]!;
      const at = join(tree, path);
      if (lstatSync(at, { throwIfNoEntry: false })?.isDirectory()) toQuarantine(path);
      inside(dirname(at));
      try {
        renameSync(tmp, at);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT' && !lexists(tmp)) continue; // moved before a crash
        throw error;
      }
      touchedDirs.add(dirname(at));
    }
    for (const { path, entry } of plan.touches) {
      const at = join(tree, path);
      chmodSync(at, entry.mode);
      utimesSync(at, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
    }
    for (const dir of touchedDirs) if (existsSync(dir)) fsyncPath(dir);
    for (const { path, entry } of plan.dirMeta) {
      const at = join(tree, path);
      chmodSync(at, entry.mode);
      utimesSync(at, timeOf(entry.mtimeMs), timeOf(entry.mtimeMs));
    }
    writeFileAtomic(this.file('current.json'), JSON.stringify({ root: journal.root, nodes: journal.nodes }));
    rmSync(this.file('journal.json'), { force: true });
    this.staging?.close();
    this.staging = undefined;
    this.reachable = undefined;
    rmSync(this.file('tmp'), { recursive: true, force: true });
    this.packs.clear();
    this.applied.bytes.clear();
    this.applied.addRecord(journal.nodes);
    this.incoming.bytes.clear();
    this.appliedRoot = journal.root;
    this.locationCache = undefined;
    this.purgeQuarantine();
  }

  /** Refuses to write through a symlink that leads out of the tree. */
  private checkInside(dir: string): void {
    const real = realpathSync(existsSync(dir) ? dir : this.options.treeDir);
    const top = realpathSync(this.options.treeDir);
    if (real !== top && !real.startsWith(top + sep))
      throw new Error(`refusing to write under ${dir}: it resolves outside the tree (${real})`);
  }

  /** Drops quarantined versions older than the retention. */
  purgeQuarantine(): void {
    const dir = this.file('quarantine');
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      if (Number(name) + this.options.deletedRetentionMs <= this.now())
        rmSync(join(dir, name), { recursive: true, force: true });
    }
  }

  close(): void {
    this.packs.close();
    this.staging?.close();
  }
}

function lexists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
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
