/**
 * The local backend: the filesystem is a directory on one node (spec.backend.local). There are no
 * servers to run; pods reach it through a hostPath volume on that node.
 */
import { Reasons } from '../../api/v1alpha1/index.js';
import type { BackendContext, FilesystemAccess, FilesystemBackend, FilesystemState } from './backend.js';

function localSpec(context: BackendContext): { path: string; nodeName?: string } {
  const local = context.instance.spec.backend.local;
  if (!local) throw new Error('local backend without spec.backend.local (the CRD schema should have refused it)');
  return local;
}

export const localBackend: FilesystemBackend = {
  type: 'local',
  childTypes: [],

  refuse: () => undefined,

  desired: () => [],

  observe(context): FilesystemState {
    const { path, nodeName } = localSpec(context);
    return {
      ready: true,
      reason: Reasons.LocalDirectory,
      message: nodeName ? `directory ${path} on node ${nodeName}` : `directory ${path} on each node that uses it`,
      mountSource: nodeName ? `${nodeName}:${path}` : path,
    };
  },

  access(context, mountPath): FilesystemAccess {
    const { path, nodeName } = localSpec(context);
    return {
      volumes: [{ name: 'data', hostPath: { path, type: 'DirectoryOrCreate' } }],
      volumeMounts: [{ name: 'data', mountPath }],
      ...(nodeName ? { nodeName } : {}),
      privileged: false,
      // Root's file capabilities in the container (pod.ts) cover root-owned hostPath directories.
      initContainers: [],
    };
  },
};
