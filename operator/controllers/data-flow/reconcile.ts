/**
 * The DataFlow controller. fetch → deletion (blocked while Snapshots or VirtualCopies use it) →
 * finalizer → its instance → what cannot run (missing Secrets, unsupported mode) → the worker
 * (ConfigMap + Deployment) → status from the worker's report and the CSI nodes' publication counts.
 * While the worker runs, it comes back every few seconds to refresh the status from /status.
 */
import { instanceRefusal } from '../../runtime/instance-access.js';
import {
  Conditions,
  EventReasons,
  Reasons,
  type Condition,
  type DataFlow,
  type KmeshInstance,
} from '../../../api/v1alpha1/index.js';
import { RESOURCES } from '../../../lib/kube/resources.js';
import type { ResourceType, WireObject } from '../../../lib/kube/rest.js';
import { accessPointProblem } from '../../../api/v1alpha1/index.js';
import { parseSchedule } from '../../../sync/stores/schedule.js';
import { DEFAULT_ENCRYPTION_ALGORITHM } from '../../../api/v1alpha1/data-flow.js';
import { filesystemAccess } from '../../backends/index.js';
import { findCondition, setCondition } from '../../runtime/conditions.js';
import { References } from '../../runtime/references.js';
import type { ControllerDefinition, ReconcileContext } from '../../runtime/controller.js';
import { done, requeueAfter, type Result } from '../../runtime/result.js';
import { SecretChecker } from '../../runtime/secrets.js';
import { announceUnsupported } from '../../runtime/supported.js';
import { applyOwned, ensureFinalizer, removeFinalizer, writeStatus } from '../../runtime/writes.js';
import type { OperatorSettings } from '../../settings.js';
import { accessPointPath, DATA_MOUNT_PATH } from '../../layout.js';
import {
  activeMounts,
  dataFlowsIn,
  httpWorkerStatus,
  PUBLICATIONS_SELECTOR,
  type WorkerStatusReader,
} from './report.js';
import { computeStatus, purgeRequest } from './status.js';
import { workerConfigMap, workerDeployment, workerReplicas } from './worker.js';

export const FINALIZER = 'kmesh.io/dataflow';
/** How often a running worker's /status is read into the DataFlow's status. */
export const STATUS_REFRESH_MS = 10_000;
const PUBLICATIONS_CACHE = 'publications';
const WORKER_PODS_CACHE = 'worker-pods';

type Context = ReconcileContext<DataFlow>;
type Named = { metadata?: { namespace?: string; name?: string } };

/** Objects that read a DataFlow's data keep it from being deleted. */
const dependentKinds = [RESOURCES.snapshot, RESOURCES.virtualCopy];
const sourceOf = (object: WireObject): string | undefined => {
  const spec = (object as { spec?: { dataFlowRef?: { name?: string }; source?: { dataFlowRef?: { name?: string } } } })
    .spec;
  return spec?.dataFlowRef?.name ?? spec?.source?.dataFlowRef?.name;
};

export function dataFlowController(
  settings: OperatorSettings,
  statusReader: WorkerStatusReader = httpWorkerStatus,
): ControllerDefinition<DataFlow> {
  // A publication report that drops a DataFlow must still requeue it: remember what each report named.
  const lastNamed = new Map<string, string[]>();
  const users = new References(); // instance → DataFlows on it
  const secrets = new SecretChecker();
  return {
    name: 'dataflow',
    primary: RESOURCES.dataFlow,
    owns: [RESOURCES.deployment, RESOURCES.configMap],
    watches: [
      { type: RESOURCES.kmeshInstance, map: users.to },
      ...dependentKinds.map((type) => ({
        type,
        map: (o: WireObject) => (sourceOf(o) ? [`${o.metadata?.namespace}/${sourceOf(o)}`] : []),
      })),
      // Worker pods (made by the Deployment's ReplicaSet, not by us): their IP is where /status is.
      {
        type: RESOURCES.pod,
        name: WORKER_PODS_CACHE,
        labelSelector: 'app.kubernetes.io/managed-by=kmesh-operator,app.kubernetes.io/component=sync-worker',
        map: (pod: WireObject) => [
          `${pod.metadata?.namespace}/${pod.metadata?.labels?.['app.kubernetes.io/instance'] ?? ''}`,
        ],
      },
      {
        type: RESOURCES.configMap,
        name: PUBLICATIONS_CACHE,
        namespace: settings.csiNamespace,
        labelSelector: PUBLICATIONS_SELECTOR,
        map: (report: WireObject) => {
          const key = `${report.metadata?.namespace}/${report.metadata?.name}`;
          const named = dataFlowsIn(report);
          const keys = [...new Set([...(lastNamed.get(key) ?? []), ...named])];
          lastNamed.set(key, named);
          return keys;
        },
      },
    ],
    reconcile: (key, context) => {
      const dataFlow = context.primary.get(key);
      if (dataFlow) users.add(`${dataFlow.metadata.namespace}/${dataFlow.spec.instanceRef.name}`, key);
      return reconcile(key, context, settings, statusReader, secrets);
    },
  };
}

async function reconcile(
  key: string,
  context: Context,
  settings: OperatorSettings,
  statusReader: WorkerStatusReader,
  secrets: SecretChecker,
): Promise<Result> {
  let dataFlow = context.primary.get(key);
  if (!dataFlow) return done();
  if (dataFlow.metadata.deletionTimestamp) return finalize(dataFlow, context);
  dataFlow = await ensureFinalizer(context.client, RESOURCES.dataFlow, dataFlow, FINALIZER);
  const namespace = dataFlow.metadata.namespace!;
  const instance = context
    .cache(RESOURCES.kmeshInstance)
    .get(`${namespace}/${dataFlow.spec.instanceRef.name}`) as unknown as KmeshInstance | undefined;
  const owned = (type: ResourceType): WireObject[] => context.owned(type, dataFlow.metadata.uid!);
  const problems = [
    ...pathProblems(context, dataFlow, instance, settings),
    ...scheduleProblems(dataFlow),
    ...(await missingSecrets(context, dataFlow, secrets)),
  ];

  if (instance && !problems.length) {
    const access = filesystemAccess(instance, settings, DATA_MOUNT_PATH);
    const inputs = { dataFlow, instance, settings, purgeRequestedAt: purgeRequest(dataFlow) };
    await applyOwned(
      context.client,
      context.events,
      dataFlow,
      [workerConfigMap(inputs), workerDeployment(inputs, access)],
      owned,
    );
  }

  const running = instance !== undefined && !problems.length && workerReplicas(dataFlow) > 0;
  const uid = dataFlow.metadata.uid!;
  const pods = context
    .cache(WORKER_PODS_CACHE)
    .list()
    .filter((p) => p.metadata?.namespace === namespace && p.metadata.labels?.['kmesh.io/owner-uid'] === uid);
  const worker = running ? await statusReader.read(pods, settings.workerStatusPort) : undefined;
  const mounts = activeMounts(dataFlow, context.cache(PUBLICATIONS_CACHE).list());
  const status = computeStatus(dataFlow, { instance, worker, activeMounts: mounts, problems });
  await reportTransitions(context, dataFlow, status.conditions);
  await writeStatus(context.client, RESOURCES.dataFlow, dataFlow, status);
  if (!instance) return done(); // the instance watch brings us back
  if (problems.some((p) => p.reason === Reasons.SecretNotFound))
    return requeueAfter(STATUS_REFRESH_MS, 'waiting for a Secret');
  if (problems.length) return done(); // a path or schedule refusal changes with a spec: the watches bring us back
  return running ? requeueAfter(STATUS_REFRESH_MS, 'refresh status from the worker') : done();
}

/**
 * Paths no worker may act on: an access point that is the filesystem's root or Kmesh's state (the
 * CRD refuses them too; this holds if it did not), and an instance whose filesystem is refused.
 */
function pathProblems(
  context: Context,
  dataFlow: DataFlow,
  instance: KmeshInstance | undefined,
  settings: OperatorSettings,
): { reason: string; message: string }[] {
  const problems = [];
  const path = accessPointPath(dataFlow);
  const problem = accessPointProblem(path);
  if (problem)
    problems.push({
      reason: Reasons.PathConflict,
      message: `spec.path ${JSON.stringify(path)} ${problem}; a DataFlow needs a directory of its own`,
    });
  const refused = instance && instanceRefusal(context, instance, settings, 'worker');
  if (refused) problems.push(refused);
  return problems;
}

/**
 * Ingest schedules the worker would refuse (the CRD's pattern lets through cron that can never
 * run, such as 31 February): checked with the worker's own parser, so no worker crash-loops on one.
 */
function scheduleProblems(dataFlow: DataFlow): { reason: string; message: string }[] {
  const problems = [];
  for (const [i, source] of (dataFlow.spec.sources ?? []).entries()) {
    try {
      parseSchedule(source.ingest?.schedule ?? 'once');
    } catch (error) {
      problems.push({
        reason: Reasons.InvalidSchedule,
        message: `spec.sources[${i}].ingest.schedule: ${(error as Error).message}; the worker is not started until it is fixed`,
      });
    }
  }
  return problems;
}

/** Secrets the spec names that do not exist: the worker could not start without them. */
async function missingSecrets(
  context: Context,
  dataFlow: DataFlow,
  secrets: SecretChecker,
): Promise<{ reason: string; message: string }[]> {
  const namespace = dataFlow.metadata.namespace!;
  const wanted: [string, string][] = [];
  const key = dataFlow.spec.policy?.encryption;
  if (key && (key.algorithm ?? DEFAULT_ENCRYPTION_ALGORITHM) !== 'none' && key.keySecretRef)
    wanted.push(['spec.policy.encryption.keySecretRef', key.keySecretRef.name]);
  for (const [i, peer] of (dataFlow.spec.peers ?? []).entries())
    wanted.push([`spec.peers[${i}].tlsSecretRef`, peer.tlsSecretRef.name]);
  for (const [i, source] of (dataFlow.spec.sources ?? []).entries()) {
    const kind = source.s3 ? 's3' : source.azureBlob ? 'azureBlob' : undefined;
    const ref = (source.s3 ?? source.azureBlob)?.credentialsSecretRef;
    if (kind && ref) wanted.push([`spec.sources[${i}].${kind}.credentialsSecretRef`, ref.name]);
  }
  const problems = [];
  for (const [field, name] of wanted) {
    if (!(await secrets.exists(context.client, namespace, name)))
      problems.push({
        reason: Reasons.SecretNotFound,
        message: `Secret ${namespace}/${name} named by ${field} does not exist; the worker starts once it does`,
      });
  }
  return problems;
}

/** Events when conditions change: a sync that failed or recovered, deleted data. */
async function reportTransitions(context: Context, dataFlow: DataFlow, next: Condition[] | undefined): Promise<void> {
  const before = dataFlow.status?.conditions;
  await announceUnsupported(context.events, dataFlow, before, next);
  const changed = (type: string) => {
    const a = findCondition(before, type);
    const b = findCondition(next, type);
    return b !== undefined && (a?.status !== b.status || a?.reason !== b.reason);
  };
  const peers = findCondition(next, Conditions.PeersConnected);
  if (peers?.status === 'False' && changed(Conditions.PeersConnected))
    await context.events.warning(dataFlow, EventReasons.SyncFailed, peers.message);
  const synced = findCondition(next, Conditions.Synced);
  if (synced?.status === 'True' && synced.reason === Reasons.PeersInSync && changed(Conditions.Synced))
    await context.events.normal(dataFlow, EventReasons.Synced, synced.message);
  const deleted = findCondition(next, Conditions.DataDeleted);
  if (deleted?.status === 'True' && changed(Conditions.DataDeleted))
    await context.events.normal(dataFlow, EventReasons.DataDeleted, deleted.message);
  const ready = findCondition(next, Conditions.Ready);
  if (ready?.reason === Reasons.SecretNotFound && changed(Conditions.Ready))
    await context.events.warning(dataFlow, EventReasons.MissingDependency, ready.message);
  const pathRefused = ready?.reason === Reasons.PathNotAllowed || ready?.reason === Reasons.PathConflict;
  if (pathRefused && changed(Conditions.Ready))
    await context.events.warning(dataFlow, EventReasons.PathRefused, ready.message);
}

/** Deletion waits for Snapshots and VirtualCopies of this DataFlow; the data itself stays (see docs). */
async function finalize(dataFlow: DataFlow, context: Context): Promise<Result> {
  const users = dependentKinds.flatMap((type) =>
    context
      .cache(type)
      .list()
      .filter(
        (o: Named & WireObject) =>
          o.metadata?.namespace === dataFlow.metadata.namespace && sourceOf(o) === dataFlow.metadata.name,
      )
      .map((o) => `${type.kind} ${o.metadata?.name}`),
  );
  if (users.length) {
    const message = `waiting for ${users.slice(0, 5).join(', ')}${users.length > 5 ? ` and ${users.length - 5} more` : ''} to be deleted: they use this DataFlow`;
    if (findCondition(dataFlow.status?.conditions, Conditions.DeletionBlocked)?.message !== message)
      await context.events.warning(dataFlow, EventReasons.DeletionBlocked, message);
    const conditions = setCondition(
      dataFlow.status?.conditions,
      Conditions.DeletionBlocked,
      'True',
      Reasons.DependentsExist,
      message,
      dataFlow.metadata.generation,
    );
    await writeStatus(context.client, RESOURCES.dataFlow, dataFlow, {
      ...dataFlow.status,
      phase: 'Deleting',
      conditions,
    });
    return done();
  }
  await removeFinalizer(context.client, RESOURCES.dataFlow, dataFlow, FINALIZER);
  return done();
}
