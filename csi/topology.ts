/**
 * CSI topology for Kmesh: a node reports `topology.kmesh.io/region` and `/zone` (NodeGetInfo); a
 * KmeshInstance's spec.location says where its data lives. A volume is accessible where its
 * instance is, and a StorageClass without `instance` gets the instance of the requested topology.
 */
import type { KmeshInstance } from '../api/v1alpha1/index.js';

export const TOPOLOGY_REGION_KEY = 'topology.kmesh.io/region';
export const TOPOLOGY_ZONE_KEY = 'topology.kmesh.io/zone';

/** A CSI Topology: segment key → value. */
export type Segments = Record<string, string>;

/** The segments an instance's location gives (none when it has no location: accessible everywhere). */
export function segmentsOf(instance: KmeshInstance): Segments {
  const location = instance.spec.location ?? {};
  return {
    ...(location.region ? { [TOPOLOGY_REGION_KEY]: location.region } : {}),
    ...(location.zone ? { [TOPOLOGY_ZONE_KEY]: location.zone } : {}),
  };
}

/** Whether `instance` lies in `topology`: every Kmesh key the topology names has the instance's value. */
export function instanceIn(instance: KmeshInstance, topology: Segments): boolean {
  const own = segmentsOf(instance);
  const keys = Object.keys(topology).filter((key) => key === TOPOLOGY_REGION_KEY || key === TOPOLOGY_ZONE_KEY);
  return keys.length > 0 && keys.every((key) => own[key] === topology[key]);
}

/**
 * The instance for a volume that may live in any of `preferred` then `requisite` (CSI's order of
 * preference); ties go to the first by name, so repeated calls pick the same one.
 */
export function pickInstance(
  instances: readonly KmeshInstance[],
  preferred: readonly Segments[],
  requisite: readonly Segments[],
): KmeshInstance | undefined {
  const sorted = [...instances].sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
  for (const topology of [...preferred, ...requisite]) {
    const match = sorted.find((instance) => instanceIn(instance, topology));
    if (match) return match;
  }
  return undefined;
}
