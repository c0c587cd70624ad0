/** Checking CSI volume capabilities: Kmesh volumes are filesystems, in any access mode. */
import { invalidArgument } from '../lib/errors.js';

/** The parts of a CSI VolumeCapability checked here (csi/generated/csi/v1/VolumeCapability.ts has them all). */
export interface VolumeCapability {
  block?: unknown;
  mount?: unknown;
  access_mode?: { mode?: string } | null;
}

/** Access modes in which pods may only read. */
export const READ_ONLY_MODES = new Set(['SINGLE_NODE_READER_ONLY', 'MULTI_NODE_READER_ONLY']);

/** The capability in `field`, refused (naming the field) unless it is a mount volume with an access mode. */
export function checkCapability<C extends VolumeCapability>(capability: C | null | undefined, field: string): C {
  if (!capability || (!capability.block && !capability.mount))
    throw invalidArgument(`${field} is required (a mount volume)`);
  if (capability.block) throw invalidArgument(`${field}: Kmesh volumes are filesystems; block access is not supported`);
  if (!capability.access_mode?.mode || capability.access_mode.mode === 'UNKNOWN')
    throw invalidArgument(`${field}.access_mode is required`);
  return capability;
}
