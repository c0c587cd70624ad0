/**
 * The VirtualCopy controller. fetch → deletion (remove the copy's files) → finalizer → a made copy
 * is settled → its source (a ready Snapshot, or a DataFlow as it is now) and instance → a task
 * pod runs `kmesh snapshot copy` into the copy's access point → its result (the base root, which
 * for a Snapshot must be the snapshot's) becomes the status, and the copy is Ready: only then does
 * the CSI node plugin mount it.
 *
 * Not in this release, and said so in the Ready condition: a copy at another instance than its
 * source's, refresh, reverse sync, and lazy (`access: cache`) copies, which are made whole.
 */
import {
  accessPointProblem,
  Conditions,
  EventReasons,
  overlaps,
  Reasons,
  unsupportedVirtualCopyFields,
  type DataFlow,
  type KmeshInstance,
  type Snapshot,
  type VirtualCopy,
  type VirtualCopyStatus,
} from '../../../api/v1alpha1/index.js';
import { RESOURCES } from '../../../lib/kube/resources.js';
import { snapshotTree } from '../../../sync/snapshots/store.js';
import {
  accessPointPath,
  copyAccessPointPath,
  DATA_MOUNT_PATH,
  mountSourceOf,
  snapshotDir,
  treeDir,
} from '../../layout.js';
import { findCondition, setCondition } from '../../runtime/conditions.js';
import { accessTo, dataFlowAndInstance, instanceRefusal } from '../../runtime/instance-access.js';
import { References } from '../../runtime/references.js';
import { announceUnsupported, withSupported } from '../../runtime/supported.js';
import type { ControllerDefinition, ReconcileContext } from '../../runtime/controller.js';
import { done, type Result } from '../../runtime/result.js';
import { endTask, runTask, type TaskOutcome } from '../../runtime/task-pod.js';
import { ensureFinalizer, removeFinalizer, writeStatus } from '../../runtime/writes.js';
import type { OperatorSettings } from '../../settings.js';

export const FINALIZER = 'kmesh.io/virtualcopy';
/**
 * The instance holding the copy's files, recorded before they are written: deletion must find
 * them even when the source Snapshot or DataFlow went first.
 */
export const INSTANCE_ANNOTATION = 'kmesh.io/instance';
const COPY = 'copy';
const REMOVE = 'remove';
const COMPONENT = 'virtual-copy';

type Context = ReconcileContext<VirtualCopy>;

/** Where the copy's files come from, or why they cannot be copied yet. */
type Source =
  | { ready: true; instance: KmeshInstance; from: string; snapshot?: Snapshot; description: string }
  | { ready: false; reason: string; message: string; phase: 'Pending' | 'Failed' };

function sourceOf(context: Context, copy: VirtualCopy, settings: OperatorSettings): Source {
  const namespace = copy.metadata.namespace!;
  const { snapshotRef, dataFlowRef } = copy.spec.source;
  let snapshot: Snapshot | undefined;
  if (snapshotRef) {
    snapshot = context.cache(RESOURCES.snapshot).get(`${namespace}/${snapshotRef.name}`) as unknown as
      Snapshot | undefined;
    if (!snapshot)
      return {
        ready: false,
        reason: Reasons.SnapshotNotFound,
        message: `Snapshot ${namespace}/${snapshotRef.name} does not exist`,
        phase: 'Pending',
      };
    if (!snapshot.status?.readyToUse)
      return {
        ready: false,
        reason: Reasons.SnapshotNotReady,
        message: `waiting for Snapshot ${snapshotRef.name} to be ready to use`,
        phase: 'Pending',
      };
  }
  const dataFlowName = snapshot?.spec.dataFlowRef.name ?? dataFlowRef!.name;
  const { dataFlow, instance } = dataFlowAndInstance(context, namespace, dataFlowName);
  if (!dataFlow)
    return {
      ready: false,
      reason: Reasons.DataFlowNotFound,
      message: `DataFlow ${namespace}/${dataFlowName} of the source does not exist`,
      phase: 'Pending',
    };
  if (!instance)
    return {
      ready: false,
      reason: Reasons.InstanceNotFound,
      message: `KmeshInstance ${namespace}/${dataFlow.spec.instanceRef.name} of the source does not exist`,
      phase: 'Pending',
    };
  if (copy.spec.instanceRef && copy.spec.instanceRef.name !== instance.metadata.name) {
    return {
      ready: false,
      reason: Reasons.CrossSiteNotSupported,
      message: `spec.instanceRef ${copy.spec.instanceRef.name} is not the source's instance ${instance.metadata.name}; copies at another instance are not supported in this release`,
      phase: 'Failed',
    };
  }
  const overlap = overlapOf(context, copy, instance.metadata.name!);
  if (overlap) return { ready: false, reason: Reasons.PathConflict, message: overlap, phase: 'Failed' };
  const refused = instanceRefusal(context, instance, settings);
  if (refused) return { ready: false, ...refused, phase: 'Failed' };
  return snapshot
    ? {
        ready: true,
        instance,
        snapshot,
        from: snapshotTree(snapshotDir(snapshot)),
        description: `Snapshot ${snapshot.metadata.name}`,
      }
    : { ready: true, instance, from: treeDir(dataFlow), description: `DataFlow ${dataFlow.metadata.name} as it was` };
}

/**
 * Why the copy's path cannot hold a copy: the filesystem root, Kmesh's state, or a place a DataFlow
 * or another copy of the instance already uses. Making the copy there would mix or expose their
 * files, and deleting the copy would delete theirs.
 */
function overlapOf(context: Context, copy: VirtualCopy, instance: string): string | undefined {
  const path = copyAccessPointPath(copy);
  const problem = accessPointProblem(path);
  if (problem) return `spec.path ${JSON.stringify(path)} ${problem}; a copy needs a directory of its own`;
  const namespace = copy.metadata.namespace;
  for (const flow of context.cache(RESOURCES.dataFlow).list() as unknown as DataFlow[]) {
    if (
      flow.metadata.namespace === namespace &&
      flow.spec.instanceRef.name === instance &&
      overlaps(path, accessPointPath(flow))
    ) {
      return `spec.path ${path} overlaps the access point ${accessPointPath(flow)} of DataFlow ${flow.metadata.name}; a copy needs a directory of its own`;
    }
  }
  for (const other of context.primary.list()) {
    if (
      other.metadata.namespace !== namespace ||
      other.metadata.uid === copy.metadata.uid ||
      other.metadata.annotations?.[INSTANCE_ANNOTATION] !== instance
    )
      continue;
    if (overlaps(path, copyAccessPointPath(other)))
      return `spec.path ${path} overlaps the access point ${copyAccessPointPath(other)} of VirtualCopy ${other.metadata.name}; a copy needs a directory of its own`;
  }
  return undefined;
}

export function virtualCopyController(settings: OperatorSettings): ControllerDefinition<VirtualCopy> {
  const bySnapshot = new References(); // Snapshot → copies of it
  const byDataFlow = new References(); // DataFlow → copies of it
  return {
    name: 'virtualcopy',
    primary: RESOURCES.virtualCopy,
    owns: [RESOURCES.pod],
    watches: [
      { type: RESOURCES.snapshot, map: bySnapshot.to },
      { type: RESOURCES.dataFlow, map: byDataFlow.to },
      { type: RESOURCES.kmeshInstance, map: () => [] }, // read through the cache; a source change brings us back
    ],
    reconcile: (key, context) => {
      const copy = context.primary.get(key);
      const source = copy?.spec.source;
      if (source?.snapshotRef) bySnapshot.add(`${copy!.metadata.namespace}/${source.snapshotRef.name}`, key);
      if (source?.dataFlowRef) byDataFlow.add(`${copy!.metadata.namespace}/${source.dataFlowRef.name}`, key);
      return reconcile(key, context, settings);
    },
  };
}

async function reconcile(key: string, context: Context, settings: OperatorSettings): Promise<Result> {
  let copy = context.primary.get(key);
  if (!copy) return done();
  if (copy.metadata.deletionTimestamp) return finalize(copy, context, settings);
  copy = await ensureFinalizer(context.client, RESOURCES.virtualCopy, copy, FINALIZER);
  if (copy.status?.base?.rootHash) {
    // Made: only a later refresh or merge request can change what is reported.
    const observedGeneration = copy.metadata.generation ?? copy.status.observedGeneration;
    const conditions = reconciled(copy, copy.status.conditions);
    await announceUnsupported(context.events, copy, copy.status.conditions, conditions);
    await writeStatus(context.client, RESOURCES.virtualCopy, copy, { ...copy.status, observedGeneration, conditions });
    return done();
  }

  const source = sourceOf(context, copy, settings);
  if (!source.ready) return report(context, copy, source.phase, source.reason, source.message);
  if (copy.metadata.annotations?.[INSTANCE_ANNOTATION] !== source.instance.metadata.name) {
    copy = await context.client.mergePatch<VirtualCopy>(
      RESOURCES.virtualCopy,
      copy.metadata.namespace,
      copy.metadata.name!,
      {
        metadata: {
          annotations: { [INSTANCE_ANNOTATION]: source.instance.metadata.name },
          resourceVersion: copy.metadata.resourceVersion,
        },
      },
    );
  }
  const path = copyAccessPointPath(copy);
  const expectRoot = source.snapshot?.status?.rootHash;
  const outcome = await runTask(context, {
    owner: copy,
    role: COPY,
    component: COMPONENT,
    access: accessTo(source.instance, settings),
    settings,
    args: [
      'snapshot',
      'copy',
      '--from',
      source.from,
      '--into',
      `${DATA_MOUNT_PATH}${path}`,
      ...(expectRoot ? ['--expect-root', expectRoot] : []),
    ],
  });
  if (outcome.state !== 'succeeded')
    return report(
      context,
      copy,
      'Provisioning',
      outcome.state === 'running' ? Reasons.Copying : Reasons.TaskFailed,
      outcome.message,
      outcome,
    );

  const result = outcome.result as { rootHash: string; fileCount: number; logicalBytes: number };
  const lazy = copy.spec.access === 'cache' ? '; access cache is served as a whole copy in this release' : '';
  const message = `copied ${result.fileCount} files (${result.logicalBytes} bytes) of ${source.description} to ${path}${lazy}`;
  const mountSource = mountSourceOf(source.instance, path);
  const status: VirtualCopyStatus = {
    ...(copy.metadata.generation !== undefined ? { observedGeneration: copy.metadata.generation } : {}),
    phase: 'Ready',
    conditions: reconciled(
      copy,
      setCondition(
        copy.status?.conditions,
        Conditions.Ready,
        'True',
        Reasons.CopyMade,
        message,
        copy.metadata.generation,
      ),
    ),
    base: { ...(source.snapshot ? { snapshot: source.snapshot.metadata.name } : {}), rootHash: result.rootHash },
    accessPoint: { path, ...(mountSource ? { mountSource } : {}) },
  };
  await announceUnsupported(context.events, copy, copy.status?.conditions, status.conditions);
  await writeStatus(context.client, RESOURCES.virtualCopy, copy, status);
  await context.events.normal(copy, EventReasons.CopyMade, message);
  await endTask(context, copy, COPY);
  return done();
}

/**
 * Reconciled says which asked-for operations this release does not perform (the copy itself is
 * made); Supported names every field it ignores.
 */
function reconciled(copy: VirtualCopy, given: VirtualCopyStatus['conditions']): VirtualCopyStatus['conditions'] {
  const conditions = withSupported(given, unsupportedVirtualCopyFields(copy.spec), copy.metadata.generation);
  const unsupported = [
    copy.spec.refresh ? 'spec.refresh' : '',
    (copy.spec.refreshRequest ?? 0) > 0 ? 'spec.refreshRequest' : '',
    (copy.spec.reverseSync?.request ?? 0) > 0 ? 'spec.reverseSync.request' : '',
  ].filter(Boolean);
  return unsupported.length
    ? setCondition(
        conditions,
        Conditions.Reconciled,
        'False',
        Reasons.NotSupported,
        `${unsupported.join(', ')}: refreshing a copy and merging it back are not in this release`,
        copy.metadata.generation,
      )
    : setCondition(
        conditions,
        Conditions.Reconciled,
        'True',
        Reasons.Applied,
        'the copy is made as the spec asks',
        copy.metadata.generation,
      );
}

/** Not made yet: why, in the phase and Ready condition (and an Event when a task starts failing). */
async function report(
  context: Context,
  copy: VirtualCopy,
  phase: VirtualCopyStatus['phase'],
  reason: string,
  message: string,
  outcome?: TaskOutcome,
): Promise<Result> {
  const before = findCondition(copy.status?.conditions, Conditions.Ready);
  const changed = before?.reason !== reason || before.message !== message;
  const eventReason = outcome
    ? EventReasons.TaskFailed
    : reason === Reasons.PathConflict || reason === Reasons.PathNotAllowed
      ? EventReasons.PathRefused
      : EventReasons.SpecRefused;
  if (changed && (outcome?.state === 'failing' || phase === 'Failed'))
    await context.events.warning(copy, eventReason, message);
  const conditions = withSupported(
    setCondition(copy.status?.conditions, Conditions.Ready, 'False', reason, message, copy.metadata.generation),
    unsupportedVirtualCopyFields(copy.spec),
    copy.metadata.generation,
  );
  await announceUnsupported(context.events, copy, copy.status?.conditions, conditions);
  await writeStatus(context.client, RESOURCES.virtualCopy, copy, { ...copy.status, phase, conditions });
  return done(); // the pod and source watches bring us back
}

/** Removes the copy's files, then lets the object go. */
async function finalize(copy: VirtualCopy, context: Context, settings: OperatorSettings): Promise<Result> {
  if (!copy.metadata.finalizers?.includes(FINALIZER)) return done();
  const path = copyAccessPointPath(copy);
  const instanceName = copy.metadata.annotations?.[INSTANCE_ANNOTATION];
  const instance = instanceName
    ? (context.cache(RESOURCES.kmeshInstance).get(`${copy.metadata.namespace}/${instanceName}`) as unknown as
        KmeshInstance | undefined)
    : undefined;
  const refused = instance && instanceRefusal(context, instance, settings);
  if (!instance || refused) {
    // No annotation: no copy task ever started, so there are no files.
    if (instanceName)
      await context.events.warning(
        copy,
        EventReasons.DataRetained,
        `KmeshInstance ${instanceName} is ${refused ? 'refused' : 'gone'}, so the copy's files at ${path} could not be removed`,
      );
  } else {
    const outcome = await runTask(context, {
      owner: copy,
      role: REMOVE,
      component: COMPONENT,
      access: accessTo(instance, settings),
      settings,
      args: ['snapshot', 'remove', '--path', `${DATA_MOUNT_PATH}${path}`],
    });
    if (outcome.state !== 'succeeded') {
      if (outcome.state === 'failing') await context.events.warning(copy, EventReasons.TaskFailed, outcome.message);
      return done(); // the pod watch brings us back
    }
  }
  await removeFinalizer(context.client, RESOURCES.virtualCopy, copy, FINALIZER);
  return done();
}
