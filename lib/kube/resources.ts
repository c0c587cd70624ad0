/** The kinds Kmesh reads or writes, and where the API server serves them. */
import type { ResourceType } from './rest.js';

const kmesh = (kind: string, plural: string): ResourceType => ({
  group: 'kmesh.io',
  version: 'v1alpha1',
  plural,
  kind,
  namespaced: true,
});

export const RESOURCES = {
  kmeshInstance: kmesh('KmeshInstance', 'kmeshinstances'),
  dataFlow: kmesh('DataFlow', 'dataflows'),
  snapshot: kmesh('Snapshot', 'snapshots'),
  virtualCopy: kmesh('VirtualCopy', 'virtualcopies'),
  statefulSet: { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  pod: { group: '', version: 'v1', plural: 'pods', kind: 'Pod', namespaced: true },
  configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  serviceAccount: { group: '', version: 'v1', plural: 'serviceaccounts', kind: 'ServiceAccount', namespaced: true },
} as const satisfies Record<string, ResourceType>;
