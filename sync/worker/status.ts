/**
 * What a worker reports at /status (JSON) — the operator copies it into DataFlow.status — and the
 * same figures as Prometheus metrics (kmesh_sync_*).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

export interface PeerStatus {
  name: string;
  connected: boolean;
  /** When the peer last reached the version scanned at `syncedScanTime`. */
  lastSyncTime?: string;
  lagSeconds: number;
  pendingBytes: number;
  root?: string;
  lastError?: string;
  /** False when retrying cannot help without a configuration change (wrong key, not a peer…). */
  retryable?: boolean;
}

export interface TransferTotals {
  logicalBytes: number;
  wireBytes: number;
  dedupSavedBytes: number;
  compressionSavedBytes: number;
  files: number;
  bytesPerSecond: number;
}

export interface SourceStatus {
  name: string;
  lastIngest?: string;
  nextIngest?: string;
  result?: { outcome: 'Succeeded' | 'Failed'; message: string; files: number; bytes: number };
  writeBack?: WriteBackStatus;
}

/** Write-back to a source: totals since the worker first ran, and the last attempt. */
export interface WriteBackStatus {
  lastWriteBack?: string;
  outcome: 'Succeeded' | 'Failed';
  message: string;
  files: number;
  bytes: number;
  removed: number;
  conflicts: number;
}

export interface WorkerStatus {
  dataFlow: string;
  site: string;
  root?: string;
  scannedAt?: string;
  phase: 'starting' | 'scanning' | 'sending' | 'idle';
  peers: PeerStatus[];
  sources: SourceStatus[];
  transfer: TransferTotals;
  progress: { bytesDone: number; bytesTotal: number; etaSeconds?: number; throughputBytesPerSecond: number };
  /** deleteAfterUse: the purge request (RFC 3339) whose deletion reached every peer. */
  purgedAt?: string;
  /** Entries the last scan left out (a name or symlink target that is not UTF-8), and a few of them. */
  skipped?: { entries: number; examples: string[] };
}

export class WorkerMetrics {
  readonly registry = new Registry();
  readonly wireBytes = new Counter({
    name: 'kmesh_sync_wire_bytes_total',
    help: 'Chunk frame bytes sent (after dedup, compression and sealing).',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly sentBytes = new Counter({
    name: 'kmesh_sync_sent_bytes_total',
    help: 'Chunk bytes sent before compression.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly dedupSaved = new Counter({
    name: 'kmesh_sync_dedup_saved_bytes_total',
    help: 'Chunk bytes the peer already held.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly compressionSaved = new Counter({
    name: 'kmesh_sync_compression_saved_bytes_total',
    help: 'Bytes saved by compression.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly logicalBytes = new Gauge({
    name: 'kmesh_sync_logical_bytes',
    help: 'Bytes in the DataFlow at the last scan.',
    registers: [this.registry],
  });
  readonly skipped = new Gauge({
    name: 'kmesh_sync_skipped_entries',
    help: 'Entries the last scan left out because their name or symlink target is not UTF-8.',
    registers: [this.registry],
  });
  readonly files = new Gauge({
    name: 'kmesh_sync_files',
    help: 'Files in the DataFlow at the last scan.',
    registers: [this.registry],
  });
  readonly scanSeconds = new Histogram({
    name: 'kmesh_sync_scan_duration_seconds',
    help: 'Duration of a scan of the DataFlow.',
    buckets: [0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });
  readonly passSeconds = new Histogram({
    name: 'kmesh_sync_pass_duration_seconds',
    help: 'Duration of a sync pass to a peer.',
    labelNames: ['peer', 'result'] as const,
    buckets: [0.01, 0.1, 0.5, 1, 5, 30, 120, 600, 3600],
    registers: [this.registry],
  });
  readonly connected = new Gauge({
    name: 'kmesh_sync_peer_connected',
    help: '1 when the last pass to the peer succeeded.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly lag = new Gauge({
    name: 'kmesh_sync_peer_lag_seconds',
    help: 'How long local changes have waited for the peer.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });
  readonly pending = new Gauge({
    name: 'kmesh_sync_peer_pending_bytes',
    help: 'Chunk bytes still to send to the peer in the current pass.',
    labelNames: ['peer'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
