/**
 * What this release does not act on: for each kind, the fields a spec can set that are accepted
 * by the API but that no controller, worker or gateway carries out yet. The operator reports them
 * in the `Supported` condition (reason NotSupported, the message names each field) and a Warning
 * Event, so nothing is silently ignored. `support.test.ts` walks every spec field of every kind
 * and fails when one is neither proven by a test nor listed here.
 */
import { DEFAULT_DATA_FLOW_MODE, type SYNCED_PEER_DIRECTIONS } from './data-flow.js';
import type {
  DataFlowPeer,
  DataFlowSpec,
  KmeshInstanceSpec,
  SnapshotSpec,
  VirtualCopySpec,
} from './generated/types.js';

/** A field the spec sets that this release does not act on. */
export interface UnsupportedField {
  /** Path from the object root, with list indexes, e.g. `spec.peers[0].direction`. */
  path: string;
  /** What happens instead, for a person reading the condition. */
  message: string;
}

export function unsupportedKmeshInstanceFields(spec: KmeshInstanceSpec): UnsupportedField[] {
  const fields: UnsupportedField[] = [];
  if (spec.tiering)
    fields.push({
      path: 'spec.tiering',
      message: 'tiering to an object store is not in this release; no file is released',
    });
  const lustre = spec.backend.lustre;
  if (lustre?.atRest?.encryption && (lustre.backingFs ?? 'ldiskfs') !== 'zfs') {
    fields.push({
      path: 'spec.backend.lustre.atRest.encryption',
      message: 'at-rest encryption needs backingFs zfs; ldiskfs targets are formatted unencrypted',
    });
  }
  if (spec.workers?.maxConcurrentFlows !== undefined) {
    fields.push({
      path: 'spec.workers.maxConcurrentFlows',
      message: 'every DataFlow’s worker transfers on its own; the limit is not applied in this release',
    });
  }
  return fields;
}

export function unsupportedDataFlowFields(spec: DataFlowSpec): UnsupportedField[] {
  const fields: UnsupportedField[] = [];
  const mode = spec.mode ?? DEFAULT_DATA_FLOW_MODE;
  if (mode !== 'async')
    fields.push({
      path: 'spec.mode',
      message: `mode ${mode} is not in this release (only async); the worker is not started`,
    });
  (spec.peers ?? []).forEach((peer, i) => {
    if (peer.direction === 'bidirectional') {
      fields.push({
        path: `spec.peers[${i}].direction`,
        message: `bidirectional needs multi-master conflict handling, which this release does not have; peer ${peer.name} is neither sent to nor received from (use push at one site and pull at the other)`,
      });
    }
  });
  (spec.sources ?? []).forEach((source, i) => {
    if (source.access === 'cache')
      fields.push({
        path: `spec.sources[${i}].access`,
        message: `access cache (fetch on first read) is not in this release; source ${source.name} is not brought in`,
      });
  });
  if (spec.policy?.dedup === false)
    fields.push({
      path: 'spec.policy.dedup',
      message: 'dedup cannot be turned off in this release: chunks a peer already holds are still not sent again',
    });
  if (spec.cache)
    fields.push({
      path: 'spec.cache',
      message: 'a local cache is not in this release (no source or peer is read lazily)',
    });
  if (spec.snapshots)
    fields.push({
      path: 'spec.snapshots',
      message:
        'scheduled snapshots (retention, hooks, exportTo) are not in this release; none is taken — create Snapshot objects instead',
    });
  return fields;
}

export function unsupportedSnapshotFields(spec: SnapshotSpec): UnsupportedField[] {
  const fields: UnsupportedField[] = [];
  if (spec.hooks)
    fields.push({
      path: 'spec.hooks',
      message: 'hooks are not run in this release, so the snapshot is not taken (it would not be quiesced as asked)',
    });
  if (spec.exportTo)
    fields.push({
      path: 'spec.exportTo',
      message: 'exporting is not in this release; the snapshot is kept in the instance only',
    });
  return fields;
}

export function unsupportedVirtualCopyFields(spec: VirtualCopySpec): UnsupportedField[] {
  const fields: UnsupportedField[] = [];
  if (spec.access === 'cache')
    fields.push({
      path: 'spec.access',
      message: 'access cache is not in this release; the copy is made whole before it is Ready',
    });
  if (spec.thickenBandwidthLimit !== undefined)
    fields.push({
      path: 'spec.thickenBandwidthLimit',
      message: 'there is no background thickening in this release, so no limit applies',
    });
  if (spec.refresh) fields.push({ path: 'spec.refresh', message: 'refreshing a copy is not in this release' });
  if ((spec.refreshRequest ?? 0) > 0)
    fields.push({ path: 'spec.refreshRequest', message: 'refreshing a copy is not in this release' });
  if ((spec.reverseSync?.request ?? 0) > 0)
    fields.push({ path: 'spec.reverseSync.request', message: 'merging a copy back is not in this release' });
  const policy = spec.reverseSync?.conflictPolicy;
  if (policy !== undefined && policy !== 'fail')
    fields.push({
      path: 'spec.reverseSync.conflictPolicy',
      message: `merging a copy back is not in this release, so conflictPolicy ${policy} never applies`,
    });
  return fields;
}

/** The unsupported-field function of each kind, by kind name. */
export const UNSUPPORTED_FIELDS = {
  KmeshInstance: unsupportedKmeshInstanceFields,
  DataFlow: unsupportedDataFlowFields,
  Snapshot: unsupportedSnapshotFields,
  VirtualCopy: unsupportedVirtualCopyFields,
} as const;

/** A peer the data plane acts on: its direction is one of SYNCED_PEER_DIRECTIONS. */
export type ActedOnPeer = DataFlowPeer & { direction?: (typeof SYNCED_PEER_DIRECTIONS)[number] };

/** Peers the data plane acts on: all but bidirectional ones (see unsupportedDataFlowFields). */
export function actedOnPeers(spec: DataFlowSpec): ActedOnPeer[] {
  return (spec.peers ?? []).filter((peer): peer is ActedOnPeer => peer.direction !== 'bidirectional');
}

/** One line for a condition message: each field with what happens instead. */
export function describeUnsupported(fields: readonly UnsupportedField[]): string {
  return fields.map((f) => `${f.path}: ${f.message}`).join('; ');
}
