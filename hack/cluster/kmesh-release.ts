/**
 * Kmesh installed into the single-node cluster with the chart, as a user installs it with
 * `helm install`: the values that point it at the images hack/images loaded and at the node's
 * directories, and the helm and kubectl commands. Shared by the end-to-end test and the demo.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CHART_DIR } from '../chart-files.js';
import { imageRef, LOCAL_TAG } from '../images/images.js';
import { runTool } from '../run.js';
import { REPO_ROOT, toolPath } from '../tools.js';
import type { ClusterState } from './cluster.js';
import { NodeLayout } from './node.js';

export const RELEASE = 'kmesh';
export const RELEASE_NAMESPACE = 'kmesh-system';
export const STORAGE_CLASS = 'kmesh-local';
/** A class without `dataFlow`, for volumes restored from snapshots: each gets a VirtualCopy of its own. */
export const COPY_STORAGE_CLASS = 'kmesh-local-copies';
export const SNAPSHOT_CLASS = 'kmesh';

/** Where local-backend instances keep their data on this node (below the chart's localRoots). */
export function localDataPath(state: ClusterState, instance: string): string {
  return join(new NodeLayout(state.root).localDataDir, instance);
}

/** Chart values for this cluster: local images only, the kubelet's real root, one StorageClass. */
export function clusterValues(state: ClusterState, storageClass: Record<string, string>): Record<string, unknown> {
  const layout = new NodeLayout(state.root);
  return {
    image: { repository: imageRef('kmesh').replace(`:${LOCAL_TAG}`, ''), tag: LOCAL_TAG, pullPolicy: 'Never' },
    localRoots: [layout.localDataDir],
    csi: {
      kubeletDir: layout.kubeletDir,
      sidecars: {
        provisioner: imageRef('csi-provisioner'),
        snapshotter: imageRef('csi-snapshotter'),
        resizer: imageRef('csi-resizer'),
        pullPolicy: 'Never',
      },
    },
    storageClasses: [
      { name: STORAGE_CLASS, parameters: storageClass, volumeBindingMode: 'Immediate' },
      { name: COPY_STORAGE_CLASS, parameters: { instance: storageClass['instance']! }, volumeBindingMode: 'Immediate' },
    ],
    volumeSnapshotClass: { create: true, name: SNAPSHOT_CLASS },
  };
}

/** Runs helm against the cluster, values written to a file; returns its output. */
export async function helm(state: ClusterState, args: string[], values?: Record<string, unknown>): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-helm-'));
  try {
    const valuesArgs: string[] = [];
    if (values) {
      writeFileSync(join(dir, 'values.yaml'), stringify(values));
      valuesArgs.push('--values', join(dir, 'values.yaml'));
    }
    return await runTool(toolPath('helm'), [...args, ...valuesArgs, '--kubeconfig', state.kubeconfigPath], {
      timeoutMs: 10 * 60_000,
      env: {
        ...process.env,
        HELM_CACHE_HOME: join(dir, 'cache'),
        HELM_CONFIG_HOME: join(dir, 'config'),
        HELM_DATA_HOME: join(dir, 'data'),
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** `helm upgrade --install` of the repository's chart; waits until every workload is ready. */
export function installChart(state: ClusterState, values: Record<string, unknown>): Promise<string> {
  return helm(
    state,
    [
      'upgrade',
      '--install',
      RELEASE,
      join(REPO_ROOT, CHART_DIR),
      '--namespace',
      RELEASE_NAMESPACE,
      '--create-namespace',
      '--wait',
      '--timeout',
      '5m',
    ],
    values,
  );
}

/** Runs kubectl against the cluster; returns its output. */
export function kubectl(state: ClusterState, ...args: string[]): Promise<string> {
  return runTool(toolPath('kubectl'), ['--kubeconfig', state.kubeconfigPath, ...args], { timeoutMs: 120_000 });
}
