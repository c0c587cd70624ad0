/**
 * The status of a DataFlow, worked out from what is there now: its instance, its worker's last
 * report, the CSI nodes' publication counts and the previous status (for deleteAfterUse). Nothing
 * here keeps memory between reconciles.
 */
import {
  Conditions,
  Reasons,
  unsupportedDataFlowFields,
  type Condition,
  type DataFlow,
  type DataFlowStatus,
  type KmeshInstance,
} from '../../../api/v1alpha1/index.js';
import {
  DEFAULT_DATA_FLOW_MODE,
  DEFAULT_PEER_DIRECTION,
  DEFAULT_SOURCE_ACCESS,
} from '../../../api/v1alpha1/data-flow.js';
import { findCondition, setCondition } from '../../runtime/conditions.js';
import { unsupportedNote, withSupported } from '../../runtime/supported.js';
import { accessPointPath, mountSourceOf } from '../../layout.js';
import type { WorkerStatus } from './report.js';

export interface DataFlowInputs {
  instance: KmeshInstance | undefined;
  worker: WorkerStatus | undefined;
  activeMounts: number;
  /** Missing Secrets and the like: the first one is reported. */
  problems: { reason: string; message: string }[];
}

/** Peers the worker sends to (a bidirectional peer is not acted on: see api/v1alpha1/support.ts). */
const pushPeers = (dataFlow: DataFlow) =>
  (dataFlow.spec.peers ?? []).filter((p) => (p.direction ?? DEFAULT_PEER_DIRECTION) === 'push');

/** deleteAfterUse: when the last mount went away, the request (and later its completion) lives in a condition. */
function dataDeleted(
  dataFlow: DataFlow,
  conditions: Condition[] | undefined,
  activeMounts: number,
  worker: WorkerStatus | undefined,
): Condition[] | undefined {
  if (!dataFlow.spec.policy?.deleteAfterUse) return conditions;
  const generation = dataFlow.metadata.generation;
  const previous = dataFlow.status?.activeMounts ?? 0;
  const current = findCondition(conditions, Conditions.DataDeleted);
  if (previous > 0 && activeMounts === 0) {
    return setCondition(
      conditions,
      Conditions.DataDeleted,
      'False',
      Reasons.DeletionRequested,
      'the last volume was unmounted; deleting the data here and at the peers',
      generation,
    );
  }
  if (current?.reason === Reasons.DeletionRequested && worker?.purgedAt === current.lastTransitionTime) {
    return setCondition(
      conditions,
      Conditions.DataDeleted,
      'True',
      Reasons.DataDeleted,
      `deleted the data here and at every peer after the last volume was unmounted (requested ${current.lastTransitionTime})`,
      generation,
    );
  }
  return conditions;
}

/** The purge request the worker must carry out, if one is pending. */
export function purgeRequest(dataFlow: DataFlow): string | undefined {
  const condition = findCondition(dataFlow.status?.conditions, Conditions.DataDeleted);
  return condition?.reason === Reasons.DeletionRequested ? condition.lastTransitionTime : undefined;
}

/** RFC 3339 to the second, as Kubernetes writes times. */
const seconds = (time: string): string => time.replace(/\.\d{3}Z$/, 'Z');

export function computeStatus(dataFlow: DataFlow, inputs: DataFlowInputs): DataFlowStatus {
  const generation = dataFlow.metadata.generation;
  const { instance, worker, activeMounts, problems } = inputs;
  let conditions = dataFlow.status?.conditions;
  const set = (type: string, ok: boolean | 'Unknown', reason: string, message: string): void => {
    conditions = setCondition(
      conditions,
      type,
      ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False',
      reason,
      message,
      generation,
    );
  };
  const mode = dataFlow.spec.mode ?? DEFAULT_DATA_FLOW_MODE;
  const peers = pushPeers(dataFlow);
  const reported = new Map((worker?.peers ?? []).map((p) => [p.name, p]));

  // Sources: every kind is ingested with access: copy; cache (fetch on first read) is not in this release.
  const sources = dataFlow.spec.sources ?? [];
  const unsupported = sources.filter((s) => (s.access ?? DEFAULT_SOURCE_ACCESS) !== 'copy');
  const results = new Map((worker?.sources ?? []).map((s) => [s.name, s]));
  const failed = sources.filter((s) => results.get(s.name)?.result?.outcome === 'Failed');
  const notWritten = sources.filter((s) => s.writeBack && results.get(s.name)?.writeBack?.outcome === 'Failed');
  const pending = sources.filter((s) => !unsupported.includes(s) && !results.get(s.name)?.result);
  if (!sources.length) set(Conditions.SourcesIngested, true, Reasons.NoSources, 'no sources to ingest');
  else if (unsupported.length)
    set(
      Conditions.SourcesIngested,
      false,
      Reasons.SourcesNotSupported,
      `access: cache (fetch on first read) is not supported by this release yet; ${unsupported.map((s) => s.name).join(', ')} are not brought in — set access: copy`,
    );
  else if (failed.length)
    set(
      Conditions.SourcesIngested,
      false,
      Reasons.IngestFailed,
      failed.map((s) => `${s.name}: ${results.get(s.name)!.result!.message}`).join('; '),
    );
  else if (notWritten.length)
    set(
      Conditions.SourcesIngested,
      false,
      Reasons.WriteBackFailed,
      notWritten.map((s) => `${s.name}: ${results.get(s.name)!.writeBack!.message}`).join('; '),
    );
  else if (pending.length || !worker)
    set(
      Conditions.SourcesIngested,
      'Unknown',
      Reasons.WorkerStarting,
      `waiting for the first ingest of ${pending.map((s) => s.name).join(', ')}`,
    );
  else
    set(
      Conditions.SourcesIngested,
      true,
      Reasons.Ingested,
      sources.some((s) => s.writeBack)
        ? 'every source was ingested as scheduled and every change written back'
        : 'every source was ingested as scheduled',
    );

  const down = peers.filter((p) => !reported.get(p.name)?.connected);
  const behind = peers.filter((p) => !worker?.root || reported.get(p.name)?.root !== worker.root);
  if (!peers.length) set(Conditions.PeersConnected, true, Reasons.NoPeers, 'no peer to push to');
  else if (!worker)
    set(Conditions.PeersConnected, 'Unknown', Reasons.WorkerStarting, 'waiting for the sync worker to report');
  else if (down.length)
    set(
      Conditions.PeersConnected,
      false,
      Reasons.PeerUnreachable,
      down.map((p) => `${p.name}: ${reported.get(p.name)?.lastError ?? 'no pass finished yet'}`).join('; '),
    );
  else
    set(
      Conditions.PeersConnected,
      true,
      Reasons.PeersReachable,
      `the last pass reached ${peers.map((p) => p.name).join(', ')}`,
    );

  if (!peers.length) set(Conditions.Synced, true, Reasons.NoPeers, 'no peer to push to');
  else if (!worker) set(Conditions.Synced, 'Unknown', Reasons.WorkerStarting, 'waiting for the sync worker to report');
  else if (behind.length)
    set(
      Conditions.Synced,
      false,
      Reasons.PeersBehind,
      `${behind.map((p) => p.name).join(', ')} do not hold the version scanned at ${worker.scannedAt ?? 'start'} yet`,
    );
  else set(Conditions.Synced, true, Reasons.PeersInSync, `every peer holds the version scanned at ${worker.scannedAt}`);

  const ignored = unsupportedDataFlowFields(dataFlow.spec);
  conditions = withSupported(conditions, ignored, generation);

  let notReady: [string, string] | undefined;
  if (!instance)
    notReady = [
      Reasons.InstanceNotFound,
      `KmeshInstance ${dataFlow.metadata.namespace}/${dataFlow.spec.instanceRef.name} does not exist`,
    ];
  else if (mode !== 'async')
    notReady = [
      Reasons.ModeNotSupported,
      `mode ${mode} is not supported by this release yet (only async); the worker is not started`,
    ];
  else if (problems[0]) notReady = [problems[0].reason, problems[0].message];
  else if (dataFlow.spec.suspend)
    notReady = [Reasons.Suspended, 'spec.suspend is true: the worker is scaled to zero; the data stays mountable'];
  else if (!worker) notReady = [Reasons.WorkerStarting, 'waiting for the sync worker to report'];
  const ready = !notReady && (peers.length === 0 || down.length === 0);
  if (notReady) set(Conditions.Ready, false, notReady[0], notReady[1]);
  else if (!ready)
    set(Conditions.Ready, false, Reasons.PeerUnreachable, 'a peer could not be reached; see PeersConnected');
  else
    set(
      Conditions.Ready,
      true,
      Reasons.WorkerReporting,
      `the worker is syncing and every peer is reachable${unsupportedNote(ignored)}`,
    );

  conditions = dataDeleted(dataFlow, conditions, activeMounts, worker);

  const phase: DataFlowStatus['phase'] =
    !instance || problems.length
      ? 'Pending'
      : mode !== 'async'
        ? 'Failed'
        : dataFlow.spec.suspend
          ? 'Suspended'
          : !worker
            ? 'Pending'
            : down.length
              ? 'Degraded'
              : behind.length
                ? 'Syncing'
                : 'Ready';
  const path = accessPointPath(dataFlow);
  const mountSource = instance ? mountSourceOf(instance, path) : undefined;
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    phase,
    conditions,
    accessPoint: { path, ...(mountSource ? { mountSource } : {}) },
    ...(worker
      ? {
          peers: peers.map((p) => {
            const r = reported.get(p.name);
            return {
              name: p.name,
              connected: r?.connected ?? false,
              ...(r?.lastSyncTime ? { lastSyncTime: seconds(r.lastSyncTime) } : {}),
              lagSeconds: r?.lagSeconds ?? 0,
              pendingBytes: r?.pendingBytes ?? 0,
            };
          }),
          ...(worker.sources.length
            ? {
                sources: worker.sources.map((s) => ({
                  ...s,
                  ...(s.lastIngest ? { lastIngest: seconds(s.lastIngest) } : {}),
                  ...(s.nextIngest ? { nextIngest: seconds(s.nextIngest) } : {}),
                  ...(s.writeBack?.lastWriteBack
                    ? { writeBack: { ...s.writeBack, lastWriteBack: seconds(s.writeBack.lastWriteBack) } }
                    : {}),
                })),
              }
            : {}),
          transfer: worker.transfer,
        }
      : {
          ...(dataFlow.status?.peers ? { peers: dataFlow.status.peers } : {}),
          ...(dataFlow.status?.sources ? { sources: dataFlow.status.sources } : {}),
          ...(dataFlow.status?.transfer ? { transfer: dataFlow.status.transfer } : {}),
        }),
    activeMounts,
  };
}
