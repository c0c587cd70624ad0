/**
 * What every Kmesh pod that reaches an instance's filesystem (gateway, sync workers) shares: the
 * non-root pod security context, the node and init containers the backend asks for, and the
 * container's privileges (none, unless mounting the filesystem inside the pod needs them).
 */
import type { WireObject } from '../../lib/kube/rest.js';
import type { OperatorSettings } from '../settings.js';
import type { FilesystemAccess } from './backend.js';

export function filesystemPod(access: FilesystemAccess, settings: OperatorSettings): { pod: WireObject; container: WireObject } {
  const uid = settings.runAsUser;
  return {
    pod: {
      securityContext: { runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } },
      ...(access.nodeName ? { nodeSelector: { 'kubernetes.io/hostname': access.nodeName } } : {}),
      ...(access.initContainers.length ? { initContainers: access.initContainers } : {}),
    },
    container: {
      ...(access.env?.length ? { env: access.env } : {}),
      securityContext: access.privileged
        ? { privileged: true, runAsUser: 0, runAsNonRoot: false } // mounting Lustre inside the pod needs it
        : { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    },
  };
}
