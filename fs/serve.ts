/**
 * One server of a mounted connection: serves a backing tree on the /dev/fuse descriptor it was
 * handed (fs/supervisor.ts holds the mount and starts servers). A server that finds state in its
 * state directory takes over from one that died: it rebuilds the node table from the node log and
 * asks the kernel to resend what the dead one left unanswered.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/durable.js';
import type { Logger } from '../lib/logging.js';
import { BackingTree } from './backing-tree.js';
import type { CacheTree } from './cache/cache-tree.js';
import type { Origin } from './cache/origin.js';
import { ChangeJournal } from './journal.js';
import { NodeLogFile, readNodeLog } from './node-log.js';
import { FuseSession, type Negotiated } from './session.js';
import { raiseReadahead } from './device.js';

export interface ServeOptions {
  fd: number;
  root: string;
  /** The supervisor's directory for this mount: node log and what INIT settled. */
  stateDir: string;
  journal?: string;
  passthrough: boolean;
  /** A server ran on this connection before (the supervisor started this one after a crash). */
  resume: boolean;
  /** Where the connection is mounted (only read from the mount table, never touched). */
  mountpoint?: string;
  /** Serve a cached tree of this origin instead of a plain one (fs/cache/). */
  origin?: Origin;
  /** Cache limits (fs/cache/cache-tree.ts). */
  cacheSizeBytes?: number;
  cacheMinFreeBytes?: number;
  /** How often to ask the origin for its version (ms). */
  cacheRefreshMs?: number;
  log: Logger;
}

interface ServerState {
  negotiated?: Negotiated;
  /** Servers started on this connection so far. */
  generation: number;
}

export async function serveConnection(options: ServeOptions): Promise<FuseSession> {
  mkdirSync(options.stateDir, { recursive: true });
  const stateFile = join(options.stateDir, 'server.json');
  const previous: ServerState = options.resume
    ? (JSON.parse(readFileSync(stateFile, 'utf8')) as ServerState)
    : { generation: 0 };
  const state: ServerState = { ...previous, generation: previous.generation + 1 };
  writeFileAtomic(stateFile, JSON.stringify(state));
  // The kernel has applied the caller's umask to every mode it sends; ours must not apply twice.
  process.umask(0);
  const journal = options.journal ? new ChangeJournal(options.journal) : undefined;
  const logFile = join(options.stateDir, 'nodes.log');
  const records = options.resume ? readNodeLog(logFile) : [];
  // Hidden links of open files that lost their names: only useful on the root's filesystem.
  const orphanDir = join(options.stateDir, 'orphans');
  mkdirSync(orphanDir, { recursive: true });
  const treeOptions = {
    root: options.root,
    orphanDir,
    journal,
    log: options.log,
    ...(options.resume ? { resume: { records, generation: previous.generation } } : {}),
  };
  let tree: BackingTree;
  let cache: CacheTree | undefined;
  if (options.origin) {
    // Loaded only for a cached tree: a plain mount's server stays small.
    const { CacheTree } = await import('./cache/cache-tree.js');
    tree = cache = new CacheTree({
      ...treeOptions,
      origin: options.origin,
      stateDir: join(options.stateDir, 'cache'),
      ...(options.cacheSizeBytes !== undefined ? { sizeBytes: options.cacheSizeBytes } : {}),
      ...(options.cacheMinFreeBytes !== undefined ? { minFreeBytes: options.cacheMinFreeBytes } : {}),
      ...(options.cacheRefreshMs !== undefined ? { refreshMs: options.cacheRefreshMs } : {}),
    });
    await cache.start();
  } else {
    tree = new BackingTree(treeOptions);
  }
  const nodeLog = new NodeLogFile(logFile, tree.nodes);
  nodeLog.compact(); // a fresh log for a fresh connection, the rebuilt table for a resumed one
  tree.nodes.log = nodeLog;
  const resume = options.resume ? previous.negotiated : undefined;
  if (options.resume && !resume) throw new Error(`no INIT was recorded in ${stateFile}: cannot take over`);
  const session = new FuseSession(options.fd, tree, options.log, {
    passthrough: options.passthrough,
    ...(resume ? { resume } : {}),
    onInit: (negotiated) => writeFileAtomic(stateFile, JSON.stringify({ ...state, negotiated })),
    // INIT sets the read-ahead to 128 KiB; raise it now that the kernel has applied INIT.
    afterInit: () => {
      if (options.mountpoint && !raiseReadahead(options.mountpoint))
        options.log.info('could not raise the read-ahead of the mount; reads come in 128 KiB requests');
    },
  });
  if (cache) {
    const tree = cache;
    tree.invalidator = session;
    const statsFile = join(options.stateDir, 'cache-stats.json');
    const timer = setInterval(() => {
      writeFileAtomic(statsFile, JSON.stringify(tree.stats));
      tree.saveIndex();
    }, 1000);
    timer.unref();
    void session.closed.then(() => {
      clearInterval(timer);
      tree.stop();
    });
  }
  session.start();
  void session.closed.then(() => {
    journal?.close();
    nodeLog.close();
  });
  options.log.info(
    { generation: state.generation, nodes: tree.nodes.size },
    options.resume ? 'took over the connection' : 'serving',
  );
  return session;
}
