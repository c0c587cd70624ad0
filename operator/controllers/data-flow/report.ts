/**
 * What the DataFlow controller reads from outside the API: the worker's /status (HTTP, from the
 * running pod) and the CSI nodes' publication reports (ConfigMaps), summed into activeMounts.
 */
import type { DataFlow } from '../../../api/v1alpha1/index.js';
import type { WireObject } from '../../../lib/kube/rest.js';
import type { WorkerStatus } from '../../../sync/worker/status.js';
import { readFromPod } from '../../runtime/pod-http.js';

export type { WorkerStatus };

/** Label of the CSI nodes' publication reports (csi/publications.ts). */
export const PUBLICATIONS_SELECTOR = 'csi.kmesh.io/publications=true';

/** The key CSI nodes count publications under (csi/publications.ts). */
export const publicationKey = (dataFlow: DataFlow): string =>
  `${dataFlow.metadata.namespace}/DataFlow/${dataFlow.metadata.name}`;

/** DataFlow keys (namespace/name) a publication report mentions. */
export function dataFlowsIn(report: WireObject): string[] {
  return Object.keys(countsOf(report))
    .map((key) => /^([^/]+)\/DataFlow\/([^/]+)$/.exec(key))
    .filter((m) => m !== null)
    .map((m) => `${m[1]}/${m[2]}`);
}

function countsOf(report: WireObject): Record<string, number> {
  const text = (report as { data?: Record<string, string> }).data?.['publications'];
  if (!text) return {};
  try {
    const parsed = JSON.parse(text) as Record<string, unknown>;
    return Object.fromEntries(
      Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number' && e[1] >= 0),
    );
  } catch {
    return {};
  }
}

/** Active publications of the DataFlow summed over every node's report. */
export function activeMounts(dataFlow: DataFlow, reports: WireObject[]): number {
  const key = publicationKey(dataFlow);
  return reports.reduce((sum, report) => sum + (countsOf(report)[key] ?? 0), 0);
}

/** Reads a worker's status; undefined when no pod runs or it does not answer. */
export interface WorkerStatusReader {
  read(pods: WireObject[], port: number): Promise<WorkerStatus | undefined>;
}

/** GET /status of the running worker pod. */
export const httpWorkerStatus: WorkerStatusReader = {
  read: async (pods, port) => (await readFromPod(pods, port, '/status')) as WorkerStatus | undefined,
};
