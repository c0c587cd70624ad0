/**
 * A sync worker: one per DataFlow. Every interval it scans the access point (the index keeps
 * unchanged files from being re-read), publishes the scanned version's manifest for the gateway's
 * readers, and brings each peer it pushes to up to the scanned version.
 * A failed pass is retried with a capped backoff; totals are kept in the state directory so a
 * restarted worker keeps counting.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLISHED_FILE_NAME } from '../../api/sync-config/gateway.js';
import { writeFileAtomic } from '../../lib/durable.js';
import type { Logger } from '../../lib/logging.js';
import { systemRunner } from '../../lib/command.js';
import { LustreChangelogFeed, scanEveryPass, type ChangeFeed } from '../engine/change-feed.js';
import { JournalFeed } from '../engine/journal-feed.js';
import { Chunker } from '../engine/chunker.js';
import { publishedRootOf, writePublished } from '../engine/published.js';
import { chunkReader, pushVersion, TransferError, type ChunkReader } from '../engine/push.js';
import { scanTree, type TreeVersion } from '../engine/scan.js';
import { subtreeVersion } from '../engine/subtree.js';
import { TreeIndex } from '../engine/tree-index.js';
import type { WorkerConfig, WorkerPeer } from '../config.js';
import { Bandwidth } from '../wire/bandwidth.js';
import { WireSession } from '../wire/client.js';
import { loadTlsDir } from '../wire/tls.js';
import { SourceIngester } from './sources.js';
import type { PeerStatus, TransferTotals, WorkerMetrics, WorkerStatus } from './status.js';

/** Unacknowledged bytes per bulk stream: one max-size chunk (and its sealing), see client.ts. */
export const WINDOW_BYTES = 1024 * 1024 + 64 * 1024;
const RETRY_MIN_MS = 500;

interface PeerState {
  status: PeerStatus;
  /** When the local tree first differed from what the peer has. */
  behindSince?: number;
  failures: number;
}

export class Worker {
  private readonly index: TreeIndex;
  private readonly chunker = new Chunker();
  private readonly bandwidth: Bandwidth;
  private readonly peers: Map<string, PeerState>;
  private readonly totals: TransferTotals;
  private version: TreeVersion | undefined;
  /** transfer.json as last written (written again only when the totals change). */
  private savedTotals: string | undefined;
  private purgedAt: string | undefined;
  /** The root of the version in published.json (written again only when the scanned root differs). */
  private publishedRoot: string | undefined;
  private scannedAt: string | undefined;
  private phase: WorkerStatus['phase'] = 'starting';
  private progress = { bytesDone: 0, bytesTotal: 0, startedAt: 0 };

  private readonly feed: ChangeFeed;
  private readonly sources: SourceIngester;

  constructor(
    private readonly config: WorkerConfig,
    private readonly log: Logger,
    private readonly metrics?: WorkerMetrics,
    feed?: ChangeFeed,
  ) {
    if (config.mode !== 'async') throw new Error(`config.mode: ${config.mode} is not supported yet; only async`);
    mkdirSync(config.stateDir, { recursive: true });
    this.index = TreeIndex.load(this.file('index.json'));
    this.bandwidth = new Bandwidth(config.bandwidthBytesPerSecond);
    this.peers = new Map(
      config.peers
        .filter(pushesTo)
        .map((p) => [
          p.name,
          { status: { name: p.name, connected: false, lagSeconds: 0, pendingBytes: 0 }, failures: 0 },
        ]),
    );
    this.totals = this.loadTotals();
    this.purgedAt = this.loadPurgedAt();
    this.publishedRoot = publishedRootOf(this.file(PUBLISHED_FILE_NAME));
    this.sources = new SourceIngester(config.sources, config.treeDir, config.stateDir, log, this.bandwidth);
    this.feed = feed ?? this.changeFeed();
  }

  private changeFeed(): ChangeFeed {
    const feed = this.config.changeFeed;
    if (feed?.type === 'journal') return new JournalFeed({ dir: feed.dir, stateFile: this.file('journal-feed.json') });
    if (feed?.type === 'lustre')
      return new LustreChangelogFeed({
        ...feed,
        runner: systemRunner,
        cursorFile: this.file('changelog-cursors.json'),
      });
    return scanEveryPass;
  }

  private file(name: string): string {
    return join(this.config.stateDir, name);
  }

  private loadTotals(): TransferTotals {
    const totals: TransferTotals = {
      logicalBytes: 0,
      wireBytes: 0,
      dedupSavedBytes: 0,
      compressionSavedBytes: 0,
      files: 0,
      bytesPerSecond: 0,
    };
    let saved: Partial<Record<keyof TransferTotals, unknown>> = {};
    try {
      saved = JSON.parse(readFileSync(this.file('transfer.json'), 'utf8')) as typeof saved;
    } catch {
      return totals;
    }
    // Totals only grow; a negative or malformed one (an older release could write those) starts again at 0.
    for (const key of Object.keys(totals) as (keyof TransferTotals)[]) {
      const value = saved[key];
      if (typeof value === 'number' && Number.isFinite(value) && value >= 0) totals[key] = value;
    }
    return totals;
  }

  status(): WorkerStatus {
    const now = Date.now();
    const peers = [...this.peers.values()].map(({ status, behindSince }) => ({
      ...status,
      lagSeconds: behindSince ? Math.round((now - behindSince) / 1000) : 0,
    }));
    const elapsed = (now - this.progress.startedAt) / 1000;
    const throughput = this.phase === 'sending' && elapsed > 0 ? this.progress.bytesDone / elapsed : 0;
    const left = this.progress.bytesTotal - this.progress.bytesDone;
    return {
      dataFlow: this.config.dataFlow,
      site: this.config.site,
      root: this.version?.root,
      scannedAt: this.scannedAt,
      phase: this.phase,
      peers,
      sources: this.sources.list(),
      transfer: { ...this.totals },
      ...(this.purgedAt ? { purgedAt: this.purgedAt } : {}),
      ...(this.version?.stats.skippedNames
        ? { skipped: { entries: this.version.stats.skippedNames, examples: this.version.stats.skippedExamples } }
        : {}),
      progress: {
        bytesDone: this.progress.bytesDone,
        bytesTotal: this.progress.bytesTotal,
        throughputBytesPerSecond: Math.round(throughput),
        ...(throughput > 0 ? { etaSeconds: Math.ceil(left / throughput) } : {}),
      },
    };
  }

  /** deleteAfterUse: the purge request last carried out (kept in purge.json across restarts). */
  private loadPurgedAt(): string | undefined {
    try {
      return (JSON.parse(readFileSync(this.file('purge.json'), 'utf8')) as { purgedAt?: string }).purgedAt;
    } catch {
      return undefined;
    }
  }

  /** deleteAfterUse: empties the tree once per request; the pass then carries the deletion to the peers. */
  private purgeIfRequested(): string | undefined {
    const requested = this.config.purgeRequestedAt;
    if (!requested || this.purgedAt === requested) return undefined;
    // By bytes: a name that is not UTF-8 (which no manifest holds) goes too.
    const top = Buffer.from(`${this.config.treeDir}/`);
    for (const name of readdirSync(this.config.treeDir, { encoding: 'buffer' }))
      rmSync(Buffer.concat([top, name]), { recursive: true, force: true });
    // The sources keep their data: without the records, write-back sees nothing to remove.
    rmSync(this.file('sources'), { recursive: true, force: true });
    this.log.info({ requested }, 'deleteAfterUse: deleted the data; the next pass deletes it at the peers');
    return requested;
  }

  /** Scans, then brings every push peer to the scanned version. Returns true when all succeeded. */
  async pass(): Promise<boolean> {
    mkdirSync(this.config.treeDir, { recursive: true }); // the access point: created on first run
    const purge = this.purgeIfRequested();
    const ingested = purge ? false : await this.sources.run();
    const changes = await this.feed.poll();
    let version = this.version;
    if (!version || purge || ingested || changes.rescan || changes.paths.size) {
      this.phase = 'scanning';
      const started = performance.now();
      // A feed that vouches for every change lets the scan list only the directories leading to them.
      const previous = !purge && !ingested && !changes.rescan ? version : undefined;
      version = await scanTree(this.config.treeDir, {
        index: this.index,
        chunker: this.chunker,
        site: this.config.site,
        ...(previous ? { since: { previous, changed: changes.paths } } : {}),
      });
      if (this.index.dirty) this.index.save(this.file('index.json'));
      this.metrics?.scanSeconds.observe((performance.now() - started) / 1000);
      this.metrics?.logicalBytes.set(version.stats.logicalBytes);
      this.metrics?.files.set(version.stats.files);
      this.metrics?.skipped.set(version.stats.skippedNames);
      const { skippedNames, skippedExamples } = version.stats;
      if (skippedNames && skippedNames !== this.version?.stats.skippedNames) {
        this.log.warn(
          { skipped: skippedNames, examples: skippedExamples },
          'left out entries whose name or symlink target is not UTF-8; rename them to sync them',
        );
      }
      this.version = version;
      this.scannedAt = new Date().toISOString();
      this.totals.logicalBytes = version.stats.logicalBytes;
      this.totals.files = version.stats.files;
    }
    this.publish(version);
    this.phase = 'sending';
    const results = await Promise.all(this.config.peers.filter(pushesTo).map((peer) => this.pushTo(peer, version)));
    version.held.clear(); // a retry reads from the files, which the stat check then guards
    this.phase = 'idle';
    const totals = JSON.stringify(this.totals);
    if (totals !== this.savedTotals) writeFileAtomic(this.file('transfer.json'), totals);
    this.savedTotals = totals;
    const ok = results.every(Boolean);
    if (ok) await changes.commit();
    if (purge && ok) {
      writeFileAtomic(this.file('purge.json'), JSON.stringify({ purgedAt: purge }));
      this.purgedAt = purge;
    }
    return ok;
  }

  /**
   * Writes the scanned version's manifest where the gateway serves it to readers
   * (docs/architecture.md#reads-access-cache), atomically, and only when its root differs from the
   * one last written. A failure does not stop the pass: the next pass tries again.
   */
  private publish(version: TreeVersion): void {
    if (version.root === this.publishedRoot) return;
    try {
      writePublished(this.file(PUBLISHED_FILE_NAME), version);
      this.publishedRoot = version.root;
    } catch (error) {
      this.log.warn(
        { err: (error as Error).message, root: version.root },
        'cannot publish the scanned version for readers; the next pass tries again',
      );
    }
  }

  private async pushTo(peer: WorkerPeer, version: TreeVersion): Promise<boolean> {
    const state = this.peers.get(peer.name)!;
    if (state.status.root !== version.root) state.behindSince ??= Date.now();
    const started = performance.now();
    const labels = { peer: peer.name };
    let session: WireSession | undefined;
    let reader: ChunkReader | undefined;
    try {
      session = await WireSession.open(peer, {
        tls: loadTlsDir(peer.tlsDir, `peers[${peer.name}].tlsDir`),
        site: this.config.site,
        policy: this.config.policy,
        parallelism: this.config.parallelism,
        windowBytes: WINDOW_BYTES,
        connectTimeoutMs: this.config.connectTimeoutMs,
        stallTimeoutMs: this.config.stallTimeoutMs,
        bandwidth: this.bandwidth,
        onWire: (wire, plain) => {
          this.totals.wireBytes += wire;
          this.totals.compressionSavedBytes += Math.max(0, plain - wire);
          this.progress.bytesDone += plain;
          state.status.pendingBytes = Math.max(0, state.status.pendingBytes - plain);
          this.metrics?.wireBytes.inc(labels, wire);
          this.metrics?.sentBytes.inc(labels, plain);
          this.metrics?.compressionSaved.inc(labels, Math.max(0, plain - wire));
        },
      });
      state.status.connected = true;
      this.progress = { bytesDone: 0, bytesTotal: 0, startedAt: Date.now() };
      reader = chunkReader(this.config.treeDir, version);
      // The peer's view: its `paths` only. Its status still names the scanned root it is in sync with.
      const result = await pushVersion(subtreeVersion(version, peer.paths), session, reader, {
        planned: (offered, missing) => {
          const saved = Math.max(0, offered - missing);
          this.totals.dedupSavedBytes += saved;
          this.progress.bytesTotal += missing;
          state.status.pendingBytes += missing;
          this.metrics?.dedupSaved.inc(labels, saved);
          this.metrics?.pending.set(labels, state.status.pendingBytes);
        },
        onHookError: (error) =>
          this.log.warn(
            { peer: peer.name, err: (error as Error).message },
            'transfer accounting failed; the pass goes on',
          ),
      });
      const seconds = (performance.now() - started) / 1000;
      if (!result.unchanged) this.totals.bytesPerSecond = Math.round(result.bytesSent / Math.max(seconds, 0.001));
      Object.assign(state.status, {
        root: version.root,
        lastSyncTime: new Date().toISOString(),
        pendingBytes: 0,
        lastError: undefined,
        retryable: undefined,
      });
      state.behindSince = undefined;
      state.failures = 0;
      this.metrics?.passSeconds.observe({ ...labels, result: 'success' }, seconds);
      if (!result.unchanged)
        this.log.info(
          { peer: peer.name, root: version.root, ...result, seconds: Math.round(seconds * 1000) / 1000 },
          'peer in sync',
        );
      return true;
    } catch (error) {
      const retryable = error instanceof TransferError ? error.retryable : true;
      Object.assign(state.status, {
        connected: false,
        lastError: (error as Error).message,
        retryable,
        pendingBytes: 0,
      });
      state.failures++;
      this.metrics?.passSeconds.observe({ ...labels, result: 'error' }, (performance.now() - started) / 1000);
      this.log.warn({ peer: peer.name, err: (error as Error).message, retryable }, 'sync pass failed');
      return false;
    } finally {
      await reader?.close();
      session?.close();
      this.metrics?.connected.set(labels, state.status.connected ? 1 : 0);
      this.metrics?.lag.set(labels, state.behindSince ? (Date.now() - state.behindSince) / 1000 : 0);
    }
  }

  /** Passes every interval until `signal` aborts; after a failure, sooner (capped backoff). */
  async run(signal: AbortSignal): Promise<void> {
    // Passes that failed before reaching any peer (the scan, a deleteAfterUse purge) back off too.
    let failedPasses = 0;
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.pass();
        failedPasses = 0;
      } catch (error) {
        this.phase = 'idle';
        failedPasses++;
        this.log.error({ err: error }, 'scan failed');
      }
      const failures = Math.max(failedPasses, ...[...this.peers.values()].map((p) => p.failures));
      await sleep(nextPassDelayMs(ok, failures, this.config.intervalMs), signal);
    }
  }
}

/** The wait before the next pass: the interval after a good one, else a backoff from 0.5 s capped at the interval. */
export function nextPassDelayMs(ok: boolean, failures: number, intervalMs: number): number {
  return ok ? intervalMs : Math.min(intervalMs, RETRY_MIN_MS * 2 ** Math.min(failures, 10));
}

function pushesTo(peer: WorkerPeer): boolean {
  return peer.direction === 'push';
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}
