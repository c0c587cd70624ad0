/**
 * What every Kmesh pod that reaches an instance's filesystem (gateway, sync workers, task pods)
 * shares: the pod security context, the node the backend asks for, and the container's privileges.
 *
 * The data is written through volumes by application pods running as any user. Syncing it means
 * reading, replacing and deleting files of any owner and keeping their owners, which the kernel
 * allows only with root's file capabilities. So the container runs as root with those alone (all
 * others dropped, no privilege escalation, read-only root filesystem). No pod mounts anything
 * itself, Lustre included: the CSI node plugin mounts the filesystem (backends/index.ts).
 */
import type { WireObject } from '../../lib/kube/rest.js';
import type { OperatorSettings } from '../settings.js';
import type { FilesystemAccess } from './backend.js';

/**
 * Reading, writing and deleting any user's files, and setting owners and modes: nothing more.
 * CHOWN keeps owners; DAC_OVERRIDE reads, writes and searches whatever the mode bits say (it covers
 * directories fully, so DAC_READ_SEARCH adds nothing but open_by_handle_at(2), which can open files
 * outside the mounted directory: not granted); FOWNER sets modes and times of others' files; FSETID
 * keeps setgid bits. See docs/security.md.
 */
export const FILE_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'FSETID'];

export function filesystemPod(
  access: FilesystemAccess,
  settings: OperatorSettings,
): { pod: WireObject; container: WireObject } {
  const uid = settings.runAsUser;
  return {
    pod: {
      securityContext: { runAsUser: uid, runAsGroup: uid, fsGroup: uid, seccompProfile: { type: 'RuntimeDefault' } },
      ...(access.nodeName ? { nodeSelector: { 'kubernetes.io/hostname': access.nodeName } } : {}),
    },
    container: {
      securityContext: {
        runAsUser: 0,
        runAsNonRoot: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        capabilities: { drop: ['ALL'], add: FILE_CAPABILITIES },
      },
    },
  };
}
