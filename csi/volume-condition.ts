/**
 * A volume's CSI VolumeCondition, from the object that holds its data (DataFlow or VirtualCopy):
 * abnormal when that object is gone, Degraded or Failed. ControllerGetVolume, ListVolumes and
 * NodeGetVolumeStats all report it; the node adds what it sees of the mount itself.
 */
import { Conditions } from '../api/v1alpha1/conditions.js';

export interface VolumeCondition {
  abnormal: boolean;
  message: string;
}

interface Observed {
  status?: { phase?: string; conditions?: Array<{ type: string; status: string; message?: string }> };
}

export function volumeConditionOf(
  kind: 'DataFlow' | 'VirtualCopy',
  name: string,
  object: Observed | undefined,
): VolumeCondition {
  if (!object) return { abnormal: true, message: `${kind} ${name} does not exist` };
  const conditions = object.status?.conditions ?? [];
  const degraded = conditions.find((c) => c.type === Conditions.Degraded && c.status === 'True');
  if (degraded) return { abnormal: true, message: `${kind} ${name} is degraded: ${degraded.message ?? 'no details'}` };
  const phase = object.status?.phase;
  if (phase === 'Degraded' || phase === 'Failed') {
    const ready = conditions.find((c) => c.type === Conditions.Ready);
    return { abnormal: true, message: `${kind} ${name} is ${phase}${ready?.message ? `: ${ready.message}` : ''}` };
  }
  return { abnormal: false, message: `${kind} ${name} is ${phase ?? 'not yet reconciled'}` };
}
