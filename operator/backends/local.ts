/**
 * The local backend: the filesystem is a directory on one node (spec.backend.local). There are no
 * servers to run; pods reach it through a hostPath volume on that node.
 *
 * The directory must lie below a root the cluster admin allows (--local-roots) and be no other
 * instance's. The operator checks that lexically; it cannot see the node, so pods mount the allowed
 * root (which must exist: `type: Directory`) with the instance's directory as a `subPath`, and the
 * kubelet refuses a subPath that a symlink leads out of the root (docs/security.md).
 */
import { localPathConflict, placeLocalPath, Reasons, type HostPlacement } from '../../api/v1alpha1/index.js';
import type { BackendContext, FilesystemAccess, FilesystemBackend, FilesystemState, Refusal } from './backend.js';

function localSpec(context: BackendContext): { path: string; nodeName?: string } {
  const local = context.instance.spec.backend.local;
  if (!local) throw new Error('local backend without spec.backend.local (the CRD schema should have refused it)');
  return local;
}

/** The allowed root that holds the instance's directory; throws when there is none (callers check `unsafe` first). */
function placement(context: BackendContext): HostPlacement {
  const placed = placeLocalPath(localSpec(context).path, context.settings.localRoots);
  if ('problem' in placed) throw new Error(`refusing to mount a host directory: ${placed.problem}`);
  return placed;
}

export const localBackend: FilesystemBackend = {
  type: 'local',
  childTypes: [],

  unsafe(context): Refusal | undefined {
    const placed = placeLocalPath(localSpec(context).path, context.settings.localRoots);
    if ('problem' in placed) return { reason: Reasons.PathNotAllowed, message: placed.problem };
    const conflict = localPathConflict(context.instance, context.instances(), context.settings.localRoots);
    return conflict ? { reason: Reasons.PathConflict, message: conflict } : undefined;
  },

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
    const { nodeName } = localSpec(context);
    const { root, subPath } = placement(context);
    return {
      // The kubelet creates a missing subPath inside the root, and refuses one a symlink leads out of.
      volumes: [{ name: 'data', hostPath: { path: root, type: 'Directory' } }],
      volumeMounts: [{ name: 'data', mountPath, subPath }],
      ...(nodeName ? { nodeName } : {}),
      privileged: false,
      // Root's file capabilities in the container (pod.ts) cover root-owned hostPath directories.
      initContainers: [],
    };
  },
};
