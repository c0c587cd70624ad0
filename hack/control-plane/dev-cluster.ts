/**
 * A developer's local control plane, used by `npm run cluster:*` and the demo. It lives in
 * .kmesh/control-plane/ in this repository and keeps running until `npm run cluster:down`.
 */
import { join } from 'node:path';
import { REPO_ROOT } from '../tools.js';
import { readState, startControlPlane, stopControlPlane, type ControlPlaneState } from './control-plane.js';
import { isRunning } from './process.js';

export const DEV_CLUSTER_DIR = join(REPO_ROOT, '.kmesh', 'control-plane');

export function describeCluster(state: ControlPlaneState): string {
  const t = state.timings;
  return [
    `API server: ${state.apiServerUrl}`,
    `ready in ${t.totalMs} ms (etcd ${t.etcdReadyMs} ms, kube-apiserver ${t.apiServerReadyMs} ms` +
      (t.controllerManagerReadyMs === undefined ? ')' : `, kube-controller-manager ${t.controllerManagerReadyMs} ms)`),
    `logs: ${join(state.workDir, 'logs')}`,
    '',
    'Use it with:',
    `  export KUBECONFIG=${state.kubeconfigPath}`,
  ].join('\n');
}

/** True when a recorded control plane still has all its processes. */
export function isUp(state: ControlPlaneState | undefined): state is ControlPlaneState {
  return state !== undefined && state.processes.length > 0 && state.processes.every(isRunning);
}

/** Starts the developer cluster unless it is already up; returns its state. */
export async function ensureDevCluster(log: (line: string) => void = console.log): Promise<ControlPlaneState> {
  const existing = readState(DEV_CLUSTER_DIR);
  if (isUp(existing)) return existing;
  if (existing) await stopControlPlane(DEV_CLUSTER_DIR); // half-dead leftovers
  return startControlPlane({ workDir: DEV_CLUSTER_DIR, detached: true, log });
}
