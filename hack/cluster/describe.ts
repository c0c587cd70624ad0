/** What `cluster:up`, `cluster:status` and the demo print about a running cluster. */
import { join } from 'node:path';
import type { ClusterState } from './cluster.js';

export function describeCluster(state: ClusterState): string {
  const t = state.timings;
  const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
  return [
    `API server: ${state.apiServerUrl}   node: ${state.nodeName}`,
    t
      ? `control plane ready in ${seconds(t.controlPlaneReadyMs)}, node Ready in ${seconds(t.nodeReadyMs)}, images ${seconds(t.imagesMs)} (${state.images.filter((i) => i.built).length} built, ${state.images.filter((i) => !i.built).length} cached)`
      : '',
    `logs: ${join(state.root, 'logs')} and ${join(state.root, 'control-plane', 'logs')}`,
    '',
    'Use it with:',
    `  export KUBECONFIG=${state.kubeconfigPath}`,
  ].join('\n');
}
