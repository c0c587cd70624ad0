/**
 * The KmeshInstance controller. Every reconcile reads the same way: fetch → deletion (blocked while
 * DataFlows or VirtualCopies use the instance) → finalizer → what the spec cannot have → one ensure
 * step per group of children (filesystem, gateway) → autoscale → one status write.
 */
import {
  Conditions,
  EventReasons,
  Reasons,
  type DataFlow,
  type KmeshInstance,
  type KmeshInstanceStatus,
} from '../../../api/v1alpha1/index.js';
import { RESOURCES } from '../../../lib/kube/resources.js';
import { isConflictError, type ResourceType, type WireObject } from '../../../lib/kube/rest.js';
import type { BackendContext, Refusal } from '../../backends/backend.js';
import { backendChildTypes, backendFor, filesystemAccess } from '../../backends/index.js';
import { findCondition, setCondition } from '../../runtime/conditions.js';
import type { ControllerDefinition, ReconcileContext } from '../../runtime/controller.js';
import { done, ReconcileError, requeueAfter, type Result } from '../../runtime/result.js';
import { SecretChecker } from '../../runtime/secrets.js';
import { announceUnsupported } from '../../runtime/supported.js';
import { applyOwned, ensureFinalizer, removeFinalizer, writeStatus } from '../../runtime/writes.js';
import type { OperatorSettings } from '../../settings.js';
import { DATA_MOUNT_PATH } from '../../layout.js';
import {
  gatewayConfigMap,
  gatewayDeployment,
  gatewayName,
  gatewayReplicas,
  gatewayService,
  observeGateway,
  servedDataFlows,
} from './gateway.js';
import { readFromPod } from '../../runtime/pod-http.js';
import { FIELD_MANAGER } from '../../runtime/writes.js';
import {
  CAPACITY_POLL_MS,
  CAPACITY_REPORT_MAX_AGE_MS,
  capacityDue,
  capacityReportConfigMap,
  capacityReportName,
  computeStatus,
  readCapacityReport,
  reportDue,
  validCapacity,
  type CapacityReport,
} from './status.js';

export const FINALIZER = 'kmesh.io/kmeshinstance';
/** How often to look again for a Secret the spec names but that does not exist. */
const MISSING_SECRET_RETRY_MS = 10_000;
/** How often to look again whether the instance holding a conflicting directory is gone. */
const PATH_CONFLICT_RETRY_MS = 30_000;
const GATEWAY_PODS_CACHE = 'gateway-pods';

/** Measures the capacity of an instance's filesystem through its running gateway pod. */
export type CapacityReader = (pods: WireObject[], port: number) => Promise<CapacityReport | undefined>;
export const httpCapacity: CapacityReader = async (pods, port) =>
  validCapacity(await readFromPod(pods, port, '/capacity'));
type Context = ReconcileContext<KmeshInstance>;

const instanceKeyOf = (object: WireObject, name: string | undefined): string[] =>
  name ? [`${object.metadata?.namespace ?? ''}/${name}`] : [];

/** Objects that use an instance keep it from being deleted. */
const dependentKinds = [RESOURCES.dataFlow, RESOURCES.virtualCopy];

export function kmeshInstanceController(
  settings: OperatorSettings,
  capacityReader: CapacityReader = httpCapacity,
): ControllerDefinition<KmeshInstance> {
  const secrets = new SecretChecker();
  return {
    name: 'kmeshinstance',
    primary: RESOURCES.kmeshInstance,
    owns: [...backendChildTypes(), RESOURCES.deployment, RESOURCES.service, RESOURCES.configMap].filter(
      (type, i, all) => all.findIndex((t) => t.plural === type.plural) === i,
    ),
    watches: [
      ...dependentKinds.map((type) => ({
        type,
        map: (object: WireObject) =>
          instanceKeyOf(object, (object as { spec?: { instanceRef?: { name?: string } } }).spec?.instanceRef?.name),
      })),
      {
        type: RESOURCES.pod,
        name: GATEWAY_PODS_CACHE,
        labelSelector: 'app.kubernetes.io/managed-by=kmesh-operator,app.kubernetes.io/component=gateway',
        map: (pod: WireObject) => instanceKeyOf(pod, pod.metadata?.labels?.['app.kubernetes.io/instance']),
      },
    ],
    reconcile: (key, context) => reconcile(key, context, settings, secrets, capacityReader),
  };
}

async function reconcile(
  key: string,
  context: Context,
  settings: OperatorSettings,
  secrets: SecretChecker,
  capacityReader: CapacityReader,
): Promise<Result> {
  let instance = context.primary.get(key);
  if (!instance) return done();
  if (instance.metadata.deletionTimestamp) return finalize(instance, context);
  instance = await ensureFinalizer(context.client, RESOURCES.kmeshInstance, instance, FINALIZER);

  const backend = backendFor(instance.spec.backend.type ?? 'local');
  const uid = instance.metadata.uid!;
  const owned = (type: ResourceType): WireObject[] => context.owned(type, uid);
  const backendContext: BackendContext = {
    instance,
    settings,
    observed: owned,
    instances: () => context.primary.list(),
  };
  const unsafe = backend.unsafe(backendContext);
  if (unsafe) return refuseUnsafe(context, instance, unsafe);
  const refusals: Refusal[] = [];
  const backendRefusal = backend.refuse(backendContext);
  if (backendRefusal) refusals.push(backendRefusal);

  // A child the API server refuses still ends in status (and an Event) before the retry.
  let applyError: unknown;
  let gatewayRefusal: Refusal | undefined;
  try {
    await ensureChildren(context, instance, backend.desired(backendContext), owned);
    gatewayRefusal = await ensureGateway(context, instance, settings, owned, secrets);
    if (gatewayRefusal) refusals.push(gatewayRefusal);
  } catch (error) {
    if (isConflictError(error)) throw error;
    applyError = error;
    refusals.unshift({
      reason: Reasons.ApplyFailed,
      message: `applying a child object failed: ${(error as Error).message}`,
    });
  }

  const byName = (type: ResourceType, name: string): WireObject | undefined =>
    owned(type).find((o) => o.metadata?.name === name);
  const filesystem = backend.observe(backendContext);
  const pods = context
    .cache(GATEWAY_PODS_CACHE)
    .list()
    .filter(
      (p) =>
        p.metadata?.namespace === instance.metadata.namespace && p.metadata?.labels?.['kmesh.io/owner-uid'] === uid,
    );
  let gateway = observeGateway(
    instance,
    byName(RESOURCES.deployment, gatewayName(instance)),
    byName(RESOURCES.service, gatewayName(instance)),
    pods,
  );
  if (gatewayRefusal && !gateway.ready)
    gateway = { ready: false, reason: gatewayRefusal.reason, message: gatewayRefusal.message };
  const now = new Date();
  const kept = readCapacityReport(byName(RESOURCES.configMap, capacityReportName(instance)));
  const gatewayServing = gatewayReplicas(instance) > 0 && gateway.ready;
  const measured =
    gatewayServing && capacityDue(kept, now) ? await capacityReader(pods, settings.gatewayHealthPort) : undefined;
  // The report is kept in a ConfigMap so it outlives this process; rewritten only when it moved, and
  // the status shows the kept one, so a measurement that changed little writes nothing.
  const fresh = measured && reportDue(kept, measured) ? measured : undefined;
  if (fresh) await context.client.apply(RESOURCES.configMap, capacityReportConfigMap(instance, fresh), FIELD_MANAGER);
  const capacity = fresh ?? kept;
  const autoscale = await autoscaleStep(context, instance, capacity, filesystem.ossServers, now);
  const status = computeStatus(instance, { filesystem, gateway, refusals, capacity, now, autoscale });
  await reportTransitions(context, instance, status);
  await writeStatus(context.client, RESOURCES.kmeshInstance, instance, status);
  if (applyError)
    throw new ReconcileError(Reasons.ApplyFailed, (applyError as Error).message, true, { cause: applyError });

  if (refusals.some((r) => r.reason === Reasons.SecretNotFound))
    return requeueAfter(MISSING_SECRET_RETRY_MS, 'waiting for the gateway TLS Secret');
  if (gatewayServing) return requeueAfter(CAPACITY_POLL_MS, 'measure the capacity again');
  if (capacity) {
    // Come back when the report would turn stale, so CapacityReported follows without an event.
    const staleInMs = Date.parse(capacity.reportedAt) + CAPACITY_REPORT_MAX_AGE_MS - now.getTime();
    if (staleInMs > 0) return requeueAfter(staleInMs + 1000, 'capacity report goes stale');
  }
  return done();
}

/**
 * A spec no pod may act on (a host directory outside the allowed roots, or another instance's):
 * nothing is created or changed, and the status and an Event say why, naming the field. What a
 * previous, accepted spec started keeps running on its old directory.
 */
async function refuseUnsafe(context: Context, instance: KmeshInstance, refusal: Refusal): Promise<Result> {
  const filesystem = { ready: false, reason: refusal.reason, message: refusal.message };
  const gateway = { ready: false, reason: refusal.reason, message: 'not started: the filesystem is refused' };
  const status = computeStatus(instance, {
    filesystem,
    gateway,
    refusals: [refusal],
    capacity: undefined,
    now: new Date(),
    autoscale: instance.status?.autoscale,
  });
  if (findCondition(instance.status?.conditions, Conditions.Reconciled)?.message !== refusal.message) {
    await context.events.warning(instance, EventReasons.PathRefused, refusal.message);
  }
  await writeStatus(context.client, RESOURCES.kmeshInstance, instance, status);
  // A spec change brings us back; the instance holding the directory going away does not, so look again.
  return refusal.reason === Reasons.PathConflict
    ? requeueAfter(PATH_CONFLICT_RETRY_MS, 'the directory may be freed')
    : done();
}

/** Applies the children that are missing or differ from `desired`. */
async function ensureChildren(
  context: Context,
  instance: KmeshInstance,
  desired: WireObject[],
  owned: (type: ResourceType) => WireObject[],
): Promise<void> {
  await applyOwned(context.client, context.events, instance, desired, owned);
}

/**
 * The gateway Deployment and Service: applied when the spec has a gateway and its TLS Secret
 * exists, deleted when the spec has none. A missing Secret is refused (and an existing gateway left
 * as it is) rather than creating pods that cannot start.
 */
async function ensureGateway(
  context: Context,
  instance: KmeshInstance,
  settings: OperatorSettings,
  owned: (type: ResourceType) => WireObject[],
  secrets: SecretChecker,
): Promise<Refusal | undefined> {
  const name = gatewayName(instance);
  if (gatewayReplicas(instance) === 0) {
    for (const type of [RESOURCES.deployment, RESOURCES.service, RESOURCES.configMap]) {
      if (owned(type).some((o) => o.metadata?.name === name)) {
        await context.client.delete(type, instance.metadata.namespace, name);
        await context.events.normal(
          instance,
          EventReasons.Deleted,
          `deleted ${type.kind} ${name}: the spec has no gateway`,
        );
      }
    }
    return undefined;
  }
  if (gatewayReplicas(instance) > 1) {
    // Sessions and the receiver's staging live in one gateway process; a second pod behind the
    // Service would take half of a transfer's connections and share the receiver state on disk.
    return {
      reason: Reasons.NotSupported,
      message: `spec.gateway.replicas: ${gatewayReplicas(instance)} gateway pods are not supported by this release (one pod holds a transfer's sessions and the receiver state); set 1, the gateway is not started or changed until then`,
    };
  }
  const secretName = instance.spec.gateway?.tlsSecretRef?.name ?? '';
  if (!(await secrets.exists(context.client, instance.metadata.namespace!, secretName))) {
    return {
      reason: Reasons.SecretNotFound,
      message: `Secret ${instance.metadata.namespace}/${secretName} named by spec.gateway.tlsSecretRef does not exist; the gateway starts once it does`,
    };
  }
  const access = filesystemAccess(instance, settings, DATA_MOUNT_PATH);
  const dataFlows = servedDataFlows(instance, context.cache(RESOURCES.dataFlow).list() as unknown as DataFlow[]);
  await ensureChildren(
    context,
    instance,
    [
      gatewayConfigMap(instance, dataFlows, settings),
      gatewayDeployment(instance, settings, access, dataFlows),
      gatewayService(instance),
    ],
    owned,
  );
  return undefined;
}

/**
 * Adds one OSS when the reported used capacity reaches the threshold, up to maxOss, one step at a
 * time (the next only after the previous OSS counts as running). Returns status.autoscale.
 */
async function autoscaleStep(
  context: Context,
  instance: KmeshInstance,
  capacity: CapacityReport | undefined,
  ossRunning: number | undefined,
  now: Date,
): Promise<KmeshInstanceStatus['autoscale']> {
  const current = instance.status?.autoscale;
  const spec = instance.spec.autoscale;
  if (!spec?.enabled || !capacity || ossRunning === undefined || !spec.maxOss) return current;
  if (now.getTime() - Date.parse(capacity.reportedAt) > CAPACITY_REPORT_MAX_AGE_MS) return current;
  const percent = (capacity.usedBytes / capacity.totalBytes) * 100;
  const target = Math.max(current?.ossCount ?? 0, ossRunning);
  const settled = ossRunning >= target;
  if (percent < (spec.thresholdPercent ?? 75) || !settled || ossRunning >= spec.maxOss) return current;
  const next = { ossCount: ossRunning + 1, lastScaleTime: now.toISOString().replace(/\.\d{3}Z$/, 'Z') };
  await context.events.normal(
    instance,
    EventReasons.ScaledUp,
    `used capacity ${percent.toFixed(0)}% reached the ${spec.thresholdPercent ?? 75}% threshold: adding OSS ${next.ossCount} of at most ${spec.maxOss}`,
  );
  return next;
}

/** Events for conditions that changed in this reconcile: refusals as Warnings, becoming Ready as Normal. */
async function reportTransitions(context: Context, instance: KmeshInstance, next: KmeshInstanceStatus): Promise<void> {
  const before = instance.status?.conditions;
  await announceUnsupported(context.events, instance, before, next.conditions);
  const changed = (type: string): boolean => {
    const a = findCondition(before, type);
    const b = findCondition(next.conditions, type);
    return a?.status !== b?.status || a?.reason !== b?.reason || a?.message !== b?.message;
  };
  const reconciled = findCondition(next.conditions, Conditions.Reconciled);
  if (reconciled?.status === 'False' && changed(Conditions.Reconciled)) {
    const reason =
      reconciled.reason === Reasons.SecretNotFound
        ? EventReasons.MissingDependency
        : reconciled.reason === Reasons.ApplyFailed
          ? EventReasons.ReconcileError
          : EventReasons.SpecRefused;
    await context.events.warning(instance, reason, reconciled.message);
  }
  if (findCondition(next.conditions, Conditions.Ready)?.status === 'True' && changed(Conditions.Ready)) {
    await context.events.normal(instance, EventReasons.Ready, 'the filesystem and the gateway are serving');
  }
}

/**
 * Deletion: wait while DataFlows or VirtualCopies use this instance (DeletionBlocked says which),
 * then release the finalizer; children go with it through their owner references.
 */
async function finalize(instance: KmeshInstance, context: Context): Promise<Result> {
  const namespace = instance.metadata.namespace;
  const users = dependentKinds.flatMap((type) =>
    context
      .cache(type)
      .list()
      .filter(
        (o) =>
          o.metadata?.namespace === namespace &&
          (o as { spec?: { instanceRef?: { name?: string } } }).spec?.instanceRef?.name === instance.metadata.name,
      )
      .map((o) => `${type.kind} ${o.metadata?.name}`),
  );
  if (users.length) {
    const shown = users.slice(0, 5).join(', ') + (users.length > 5 ? ` and ${users.length - 5} more` : '');
    const message = `waiting for ${shown} to be deleted: they use this instance`;
    const conditions = setCondition(
      instance.status?.conditions,
      Conditions.DeletionBlocked,
      'True',
      Reasons.DependentsExist,
      message,
      instance.metadata.generation,
    );
    if (findCondition(instance.status?.conditions, Conditions.DeletionBlocked)?.message !== message) {
      await context.events.warning(instance, EventReasons.DeletionBlocked, message);
    }
    await writeStatus(context.client, RESOURCES.kmeshInstance, instance, {
      ...instance.status,
      phase: 'Deleting',
      conditions,
    });
    return done(); // a dependent's deletion requeues us through the watch
  }
  await removeFinalizer(context.client, RESOURCES.kmeshInstance, instance, FINALIZER);
  return done();
}
