/**
 * Where the binaries built by hack/build-tools.sh are: $KMESH_TOOLS_BIN, or hack/bin in this
 * repository (symlinks into the tool cache).
 */
import { accessSync, constants } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Root of this repository. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** Binaries hack/build-tools.sh provides. */
export type Tool =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubelet'
  | 'kube-proxy'
  | 'kubectl'
  | 'helm'
  | 'kubeconform'
  | 'csi-sanity'
  | 'versitygw'
  | 'csi-provisioner'
  | 'csi-snapshotter'
  | 'snapshot-controller'
  | 'csi-resizer'
  | 'go-fuse-loopback'
  | 'fuse-posixtest';

export function toolsBinDir(): string {
  return process.env['KMESH_TOOLS_BIN'] ?? join(REPO_ROOT, 'hack', 'bin');
}

/** Absolute path of `tool`; throws with the command that builds it when it is missing. */
export function toolPath(tool: Tool): string {
  const path = join(toolsBinDir(), tool);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${tool} not found at ${path}: run \`npm run tools\` (hack/build-tools.sh) to build it`);
  }
  return path;
}
