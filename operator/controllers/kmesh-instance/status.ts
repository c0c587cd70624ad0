/**
 * The status of a KmeshInstance, worked out from what is in the cluster now: the filesystem's
 * state (from its backend), the gateway's, what could not be applied, and the capacity the gateway
 * last reported. Nothing here remembers anything between reconciles.
 */
import {
  Conditions,
  Reasons,
  unsupportedKmeshInstanceFields,
  type KmeshInstance,
  type KmeshInstanceStatus,
} from '../../../api/v1alpha1/index.js';
import type { WireObject } from '../../../lib/kube/rest.js';
import type { FilesystemState, Refusal } from '../../backends/backend.js';
import { childName, ownedBy } from '../../runtime/children.js';
import { setCondition } from '../../runtime/conditions.js';
import { unsupportedNote, withSupported } from '../../runtime/supported.js';
import type { CapacityReport } from '../../../sync/gateway/capacity.js';
import type { GatewayState } from './gateway.js';

/** The gateway's capacity report (JSON under `capacity`) is kept in this ConfigMap; older than this, it is stale. */
export const CAPACITY_REPORT_MAX_AGE_MS = 5 * 60_000;
export const capacityReportName = (instance: KmeshInstance): string => childName(instance.metadata.name!, 'report');

export type { CapacityReport };

/** `value` if it is a valid capacity report. */
export function validCapacity(value: unknown): CapacityReport | undefined {
  const report = value as Partial<CapacityReport> | undefined;
  if (
    typeof report?.totalBytes !== 'number' ||
    typeof report.usedBytes !== 'number' ||
    typeof report.reportedAt !== 'string'
  )
    return undefined;
  if (report.totalBytes <= 0 || report.usedBytes < 0 || Number.isNaN(Date.parse(report.reportedAt))) return undefined;
  return report as CapacityReport;
}

/** The capacity report in `configMap`, if it holds a valid one. */
export function readCapacityReport(configMap: WireObject | undefined): CapacityReport | undefined {
  const text = (configMap as { data?: Record<string, string> } | undefined)?.data?.['capacity'];
  if (!text) return undefined;
  try {
    return validCapacity(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/** How often a running gateway is asked for the filesystem's capacity. */
export const CAPACITY_POLL_MS = 60_000;

/**
 * Whether to measure the capacity again: no report is kept, or the kept one is a poll period old.
 * Measuring on every reconcile would change the status (used bytes, report time) on every
 * reconcile, and each status write starts another reconcile: a loop of writes.
 */
export function capacityDue(kept: CapacityReport | undefined, now: Date): boolean {
  return !kept || now.getTime() - Date.parse(kept.reportedAt) >= CAPACITY_POLL_MS;
}

/**
 * Whether a new measurement should replace the kept report: there is none, the size or use moved
 * by 0.1% of the total or more, or the kept one is half-way to stale. Otherwise the ConfigMap is
 * not rewritten every poll.
 */
export function reportDue(kept: CapacityReport | undefined, measured: CapacityReport): boolean {
  if (!kept || kept.totalBytes !== measured.totalBytes) return true;
  if (Math.abs(kept.usedBytes - measured.usedBytes) >= measured.totalBytes / 1000) return true;
  return Date.parse(measured.reportedAt) - Date.parse(kept.reportedAt) >= CAPACITY_REPORT_MAX_AGE_MS / 2;
}

/** The report ConfigMap, owned by the instance. */
export function capacityReportConfigMap(instance: KmeshInstance, report: CapacityReport): WireObject {
  const owner = ownedBy(instance, 'capacity-report');
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: capacityReportName(instance),
      namespace: instance.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    data: { capacity: JSON.stringify(report) },
  };
}

export interface StatusInputs {
  filesystem: FilesystemState;
  gateway: GatewayState;
  /** Spec parts not applied, first one wins the Reconciled condition. */
  refusals: Refusal[];
  capacity: CapacityReport | undefined;
  now: Date;
  autoscale?: KmeshInstanceStatus['autoscale'];
}

/** Degraded (serving short-handed); Ready; Pending (waits for the user, e.g. a missing Secret); else Provisioning. */
function phaseOf(ready: boolean, degraded: boolean, refused: boolean): NonNullable<KmeshInstanceStatus['phase']> {
  if (degraded) return 'Degraded';
  if (ready) return 'Ready';
  return refused ? 'Pending' : 'Provisioning';
}

export function computeStatus(instance: KmeshInstance, inputs: StatusInputs): KmeshInstanceStatus {
  const generation = instance.metadata.generation;
  const { filesystem, gateway, refusals, capacity, now } = inputs;
  let conditions = instance.status?.conditions;
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

  set(Conditions.FilesystemReady, filesystem.ready, filesystem.reason, filesystem.message);
  set(Conditions.GatewayReady, gateway.ready, gateway.reason, gateway.message);
  const refusal = refusals[0];
  set(
    Conditions.Reconciled,
    !refusal,
    refusal?.reason ?? Reasons.Applied,
    refusal?.message ?? 'every child object matches the spec',
  );

  const fresh = capacity && now.getTime() - Date.parse(capacity.reportedAt) <= CAPACITY_REPORT_MAX_AGE_MS;
  if (fresh) set(Conditions.CapacityReported, true, Reasons.Ready, `reported at ${capacity.reportedAt}`);
  else if (capacity)
    set(
      Conditions.CapacityReported,
      'Unknown',
      Reasons.AwaitingReport,
      `the last report (${capacity.reportedAt}) is older than ${CAPACITY_REPORT_MAX_AGE_MS / 60_000} minutes`,
    );
  else
    set(
      Conditions.CapacityReported,
      'Unknown',
      Reasons.AwaitingReport,
      'capacity is reported by a component that mounts the filesystem (the gateway); none has reported yet',
    );

  const unsupported = unsupportedKmeshInstanceFields(instance.spec);
  conditions = withSupported(conditions, unsupported, generation);

  const degraded = [filesystem.degraded, gateway.degraded].filter(Boolean).join('; ');
  set(
    Conditions.Degraded,
    Boolean(degraded),
    degraded ? Reasons.ServersDegraded : Reasons.Healthy,
    degraded || 'every server and gateway pod is ready',
  );

  // Ready means serving. A refused spec change (say, a scale-down) leaves the running servers as
  // they are: Reconciled says what was refused, and Ready stays true while they serve.
  const ready = filesystem.ready && gateway.ready;
  const notReady = [
    ...new Set(
      [!filesystem.ready && filesystem.message, !gateway.ready && gateway.message, refusal?.message].filter(Boolean),
    ),
  ].join('; ');
  const serving = refusal
    ? `the filesystem and the gateway are serving; the spec is not fully applied (see Reconciled): ${refusal.message}`
    : 'the filesystem and the gateway are serving';
  // An ignored field does not stop a serving instance from being Ready; the message says it is ignored.
  set(
    Conditions.Ready,
    ready,
    ready ? Reasons.Ready : Reasons.NotReady,
    ready ? `${serving}${unsupportedNote(unsupported)}` : notReady,
  );

  const status: KmeshInstanceStatus = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    phase: phaseOf(ready, Boolean(degraded), Boolean(refusal)),
    conditions,
    ...(filesystem.mountSource ? { mountSource: filesystem.mountSource } : {}),
    ...(gateway.endpoint ? { gatewayEndpoint: gateway.endpoint } : {}),
    ...(fresh
      ? {
          capacity: {
            totalBytes: capacity.totalBytes,
            usedBytes: capacity.usedBytes,
            percent: Math.min(100, Math.round((capacity.usedBytes / capacity.totalBytes) * 100)),
          },
        }
      : {}),
    ...(inputs.autoscale ? { autoscale: inputs.autoscale } : {}),
    ...(filesystem.servers ? { servers: filesystem.servers } : {}),
  };
  return status;
}
