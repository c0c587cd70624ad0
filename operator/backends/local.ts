/**
 * The local backend: the filesystem is a directory on one node (spec.backend.local). There are no
 * servers to run; pods reach it through the CSI node plugin on that node, which binds the directory.
 *
 * The directory must lie below a root the cluster admin allows (--local-roots) and be no other
 * instance's. The operator checks that lexically; it cannot see the node, so the node plugin,
 * which mounts it, checks again with symlinks resolved (docs/security.md).
 */
import { localPathRefusal, Reasons } from '../../api/v1alpha1/index.js';
import type { BackendContext, FilesystemBackend, FilesystemState, Refusal } from './backend.js';

function localSpec(context: BackendContext): { path: string; nodeName?: string } {
  const local = context.instance.spec.backend.local;
  if (!local) throw new Error('local backend without spec.backend.local (the CRD schema should have refused it)');
  return local;
}

export const localBackend: FilesystemBackend = {
  type: 'local',
  childTypes: [],

  unsafe: (context): Refusal | undefined =>
    localPathRefusal(context.instance, context.instances(), context.settings.localRoots),

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

  nodeFor: (context) => localSpec(context).nodeName,
};
