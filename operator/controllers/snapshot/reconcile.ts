/**
 * The Snapshot controller. fetch → deletion (remove the retained files unless deletionPolicy is
 * Retain) → finalizer → a taken snapshot is settled (it is immutable) → its DataFlow and instance
 * → a task pod runs `kmesh snapshot take` on the instance's filesystem → its result becomes the
 * status (readyToUse, rootHash, counts) and the pod goes.
 */
import {
  Conditions,
  EventReasons,
  Reasons,
  unsupportedSnapshotFields,
  type Condition,
  type Snapshot,
  type SnapshotStatus,
} from '../../../api/v1alpha1/index.js';
import { RESOURCES } from '../../../lib/kube/resources.js';
import { DATA_MOUNT_PATH, snapshotDir, treeDir } from '../../layout.js';
import { findCondition, setCondition } from '../../runtime/conditions.js';
import { accessTo, dataFlowAndInstance, instanceRefusal } from '../../runtime/instance-access.js';
import { References } from '../../runtime/references.js';
import { announceUnsupported, withSupported } from '../../runtime/supported.js';
import type { ControllerDefinition, ReconcileContext } from '../../runtime/controller.js';
import { done, type Result } from '../../runtime/result.js';
import { endTask, runTask, type TaskOutcome } from '../../runtime/task-pod.js';
import { ensureFinalizer, removeFinalizer, writeStatus } from '../../runtime/writes.js';
import type { OperatorSettings } from '../../settings.js';

export const FINALIZER = 'kmesh.io/snapshot';
const TAKE = 'snapshot';
const REMOVE = 'remove';
const COMPONENT = 'snapshot';

type Context = ReconcileContext<Snapshot>;

const snapshotSource = (context: Context, snapshot: Snapshot) =>
  dataFlowAndInstance(context, snapshot.metadata.namespace!, snapshot.spec.dataFlowRef.name);

export function snapshotController(settings: OperatorSettings): ControllerDefinition<Snapshot> {
  const byDataFlow = new References(); // DataFlow → its Snapshots
  return {
    name: 'snapshot',
    primary: RESOURCES.snapshot,
    owns: [RESOURCES.pod],
    watches: [
      { type: RESOURCES.dataFlow, map: byDataFlow.to },
      { type: RESOURCES.kmeshInstance, map: () => [] }, // read through the cache; a DataFlow change brings us back
    ],
    reconcile: (key, context) => {
      const snapshot = context.primary.get(key);
      if (snapshot) byDataFlow.add(`${snapshot.metadata.namespace}/${snapshot.spec.dataFlowRef.name}`, key);
      return reconcile(key, context, settings);
    },
  };
}

async function reconcile(key: string, context: Context, settings: OperatorSettings): Promise<Result> {
  let snapshot = context.primary.get(key);
  if (!snapshot) return done();
  if (snapshot.metadata.deletionTimestamp) return finalize(snapshot, context, settings);
  snapshot = await ensureFinalizer(context.client, RESOURCES.snapshot, snapshot, FINALIZER);
  if (snapshot.status?.readyToUse) return done();

  if (snapshot.spec.hooks) {
    // Taking it without them would give a snapshot the user believes was quiesced.
    return report(
      context,
      snapshot,
      Reasons.NotSupported,
      'spec.hooks: pre and post hooks are not run in this release, so the snapshot cannot be quiesced as asked; create the Snapshot without hooks',
    );
  }
  const { dataFlow, instance } = snapshotSource(context, snapshot);
  const name = snapshot.spec.dataFlowRef.name;
  if (!dataFlow)
    return report(
      context,
      snapshot,
      Reasons.DataFlowNotFound,
      `DataFlow ${snapshot.metadata.namespace}/${name} does not exist; the snapshot is taken once it does`,
    );
  if (!instance)
    return report(
      context,
      snapshot,
      Reasons.InstanceNotFound,
      `KmeshInstance ${dataFlow.metadata.namespace}/${dataFlow.spec.instanceRef.name} of DataFlow ${name} does not exist`,
    );
  const refused = instanceRefusal(context, instance, settings);
  if (refused) return report(context, snapshot, refused.reason, refused.message);

  const outcome = await runTask(context, {
    owner: snapshot,
    role: TAKE,
    component: COMPONENT,
    access: accessTo(instance, settings),
    settings,
    args: [
      'snapshot',
      'take',
      '--tree',
      treeDir(dataFlow),
      '--into',
      snapshotDir(snapshot),
      '--name',
      `${snapshot.metadata.namespace}/${snapshot.metadata.name}`,
    ],
  });
  if (outcome.state !== 'succeeded')
    return report(
      context,
      snapshot,
      outcome.state === 'running' ? Reasons.Taking : Reasons.TaskFailed,
      outcome.message,
      outcome,
    );

  const result = outcome.result as {
    creationTime: string;
    rootHash: string;
    fileCount: number;
    logicalBytes: number;
    uniqueBytes: number;
  };
  const message = `took ${result.fileCount} files (${result.logicalBytes} bytes, ${result.uniqueBytes} not shared with the previous snapshot) of DataFlow ${name}`;
  let conditions = supported(
    snapshot,
    setCondition(
      snapshot.status?.conditions,
      Conditions.Ready,
      'True',
      Reasons.SnapshotTaken,
      message,
      snapshot.metadata.generation,
    ),
  );
  if (snapshot.spec.exportTo) {
    conditions = setCondition(
      conditions,
      Conditions.Exported,
      'False',
      Reasons.NotSupported,
      'spec.exportTo: exporting snapshots is not in this release; the snapshot is kept in the instance only',
      snapshot.metadata.generation,
    );
  }
  const status: SnapshotStatus = {
    ...(snapshot.metadata.generation !== undefined ? { observedGeneration: snapshot.metadata.generation } : {}),
    readyToUse: true,
    creationTime: result.creationTime,
    rootHash: result.rootHash,
    fileCount: result.fileCount,
    logicalBytes: result.logicalBytes,
    uniqueBytes: result.uniqueBytes,
    conditions,
  };
  await announceUnsupported(context.events, snapshot, snapshot.status?.conditions, conditions);
  await writeStatus(context.client, RESOURCES.snapshot, snapshot, status);
  await context.events.normal(snapshot, EventReasons.SnapshotTaken, message);
  await endTask(context, snapshot, TAKE);
  return done();
}

/** `conditions` with Supported naming the fields of the spec this release ignores (api/v1alpha1/support.ts). */
const supported = (snapshot: Snapshot, conditions: Condition[]): Condition[] =>
  withSupported(conditions, unsupportedSnapshotFields(snapshot.spec), snapshot.metadata.generation);

/** Not ready yet: why, in the Ready condition (and an Event when a task starts failing). */
async function report(
  context: Context,
  snapshot: Snapshot,
  reason: string,
  message: string,
  outcome?: TaskOutcome,
): Promise<Result> {
  const before = findCondition(snapshot.status?.conditions, Conditions.Ready);
  const changed = before?.reason !== reason || before.message !== message;
  if (outcome?.state === 'failing' && changed) await context.events.warning(snapshot, EventReasons.TaskFailed, message);
  if ((reason === Reasons.PathNotAllowed || reason === Reasons.PathConflict) && changed)
    await context.events.warning(snapshot, EventReasons.PathRefused, message);
  const conditions = supported(
    snapshot,
    setCondition(snapshot.status?.conditions, Conditions.Ready, 'False', reason, message, snapshot.metadata.generation),
  );
  await announceUnsupported(context.events, snapshot, snapshot.status?.conditions, conditions);
  await writeStatus(context.client, RESOURCES.snapshot, snapshot, {
    ...snapshot.status,
    readyToUse: false,
    conditions,
  });
  return done(); // the pod, DataFlow and instance watches bring us back
}

/** Removes the retained files (deletionPolicy Delete), then lets the object go. */
async function finalize(snapshot: Snapshot, context: Context, settings: OperatorSettings): Promise<Result> {
  if (!snapshot.metadata.finalizers?.includes(FINALIZER)) return done();
  const { dataFlow, instance } = snapshotSource(context, snapshot);
  const where = snapshotDir(snapshot).slice(DATA_MOUNT_PATH.length);
  if ((snapshot.spec.deletionPolicy ?? 'Delete') === 'Retain') {
    await context.events.normal(
      snapshot,
      EventReasons.DataRetained,
      `deletionPolicy Retain: the snapshot's files stay at ${where} in the instance's filesystem`,
    );
  } else if (!dataFlow || !instance || instanceRefusal(context, instance, settings)) {
    // Nothing can reach the files any more (the DataFlow waits for its Snapshots, so this is rare).
    await context.events.warning(
      snapshot,
      EventReasons.DataRetained,
      `the DataFlow or instance is gone or refused, so the snapshot's files at ${where} could not be removed`,
    );
  } else {
    const outcome = await runTask(context, {
      owner: snapshot,
      role: REMOVE,
      component: COMPONENT,
      access: accessTo(instance, settings),
      settings,
      args: ['snapshot', 'remove', '--path', snapshotDir(snapshot)],
    });
    if (outcome.state !== 'succeeded') {
      if (outcome.state === 'failing') await context.events.warning(snapshot, EventReasons.TaskFailed, outcome.message);
      return done(); // the pod watch brings us back
    }
  }
  await removeFinalizer(context.client, RESOURCES.snapshot, snapshot, FINALIZER);
  return done();
}
