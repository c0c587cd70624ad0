/**
 * The status of a KmeshInstance, worked out from what is in the cluster now: the filesystem's
 * state (from its backend), the gateway's, what could not be applied, and the capacity the gateway
 * last reported. Nothing here remembers anything between reconciles.
 */
import { Conditions, Reasons, type KmeshInstance, type KmeshInstanceStatus } from '../../../api/v1alpha1/index.js';
import type { WireObject } from '../../../lib/kube/rest.js';
import type { FilesystemState, Refusal } from '../../backends/backend.js';
import { childName } from '../../runtime/children.js';
import { setCondition } from '../../runtime/conditions.js';
import type { GatewayState } from './gateway.js';

/** The gateway writes `capacity` (JSON) into this ConfigMap; a report older than this is stale. */
export const CAPACITY_REPORT_MAX_AGE_MS = 5 * 60_000;
export const capacityReportName = (instance: KmeshInstance): string => childName(instance.metadata.name!, 'report');

export interface CapacityReport {
  totalBytes: number;
  usedBytes: number;
  /** RFC 3339 time of the measurement. */
  reportedAt: string;
}

/** The capacity report in `configMap`, if it holds a valid one. */
export function readCapacityReport(configMap: WireObject | undefined): CapacityReport | undefined {
  const text = (configMap as { data?: Record<string, string> } | undefined)?.data?.['capacity'];
  if (!text) return undefined;
  try {
    const report = JSON.parse(text) as Partial<CapacityReport>;
    if (typeof report.totalBytes !== 'number' || typeof report.usedBytes !== 'number' || typeof report.reportedAt !== 'string') return undefined;
    if (report.totalBytes <= 0 || report.usedBytes < 0 || Number.isNaN(Date.parse(report.reportedAt))) return undefined;
    return report as CapacityReport;
  } catch {
    return undefined;
  }
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
    conditions = setCondition(conditions, type, ok === 'Unknown' ? 'Unknown' : ok ? 'True' : 'False', reason, message, generation);
  };

  set(Conditions.FilesystemReady, filesystem.ready, filesystem.reason, filesystem.message);
  set(Conditions.GatewayReady, gateway.ready, gateway.reason, gateway.message);
  const refusal = refusals[0];
  set(Conditions.Reconciled, !refusal, refusal?.reason ?? Reasons.Applied, refusal?.message ?? 'every child object matches the spec');

  const fresh = capacity && now.getTime() - Date.parse(capacity.reportedAt) <= CAPACITY_REPORT_MAX_AGE_MS;
  if (fresh) set(Conditions.CapacityReported, true, Reasons.Ready, `reported at ${capacity.reportedAt}`);
  else if (capacity) set(Conditions.CapacityReported, 'Unknown', Reasons.AwaitingReport, `the last report (${capacity.reportedAt}) is older than ${CAPACITY_REPORT_MAX_AGE_MS / 60_000} minutes`);
  else set(Conditions.CapacityReported, 'Unknown', Reasons.AwaitingReport, 'capacity is reported by a component that mounts the filesystem (the gateway); none has reported yet');

  const degraded = [filesystem.degraded, gateway.degraded].filter(Boolean).join('; ');
  set(Conditions.Degraded, Boolean(degraded), degraded ? Reasons.ServersDegraded : Reasons.Healthy, degraded || 'every server and gateway pod is ready');

  const ready = filesystem.ready && gateway.ready && !refusal;
  const notReady = [...new Set([!filesystem.ready && filesystem.message, !gateway.ready && gateway.message, refusal?.message].filter(Boolean))].join('; ');
  set(Conditions.Ready, ready, ready ? Reasons.Ready : Reasons.NotReady, ready ? 'the filesystem and the gateway are serving' : notReady);

  const status: KmeshInstanceStatus = {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    phase: phaseOf(ready, Boolean(degraded), Boolean(refusal)),
    conditions,
    ...(filesystem.mountSource ? { mountSource: filesystem.mountSource } : {}),
    ...(gateway.endpoint ? { gatewayEndpoint: gateway.endpoint } : {}),
    ...(fresh
      ? { capacity: { totalBytes: capacity.totalBytes, usedBytes: capacity.usedBytes, percent: Math.min(100, Math.round((capacity.usedBytes / capacity.totalBytes) * 100)) } }
      : {}),
    ...(inputs.autoscale ? { autoscale: inputs.autoscale } : {}),
    ...(filesystem.servers ? { servers: filesystem.servers } : {}),
  };
  return status;
}
