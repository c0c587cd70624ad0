/**
 * The Lustre backend: a StatefulSet of metadata servers (`<name>-mds`, MGS on the first, MDT index
 * from the ordinal) and one of object storage servers (`<name>-oss`, OST indexes from the ordinal
 * and targetsPerServer), each target a Block-mode PersistentVolumeClaim, each behind a headless
 * Service. Server pods run privileged on the host network (LNet NIDs are node IPs, port 988) on the
 * nodes the spec selects (those with Lustre server modules).
 *
 * HA doubles each StatefulSet: ordinals 2k and 2k+1 are failover partners. Pods are created in
 * order and spread over the topology key with maxSkew 1, which puts every pair in two failure
 * domains; --servicenode names both. Failing over a target needs block storage both partners can
 * attach (a multi-attach StorageClass); the operator does not move volumes itself.
 */
import {
  Reasons,
  type KmeshInstance,
  type LustreBackend,
  type ResourceRequirements,
} from '../../api/v1alpha1/index.js';
import { LUSTRE_NODE_TYPES } from '../../api/v1alpha1/kmesh-instance.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { WireObject } from '../../lib/kube/rest.js';
import { childName, ownedBy } from '../runtime/children.js';
import type { BackendContext, FilesystemBackend, FilesystemState, Refusal } from './backend.js';
import { LUSTRE_SERVER_SCRIPT } from './lustre-server-script.js';

/** LNet's TCP port. */
export const LNET_PORT = 988;
const CLUSTER_DOMAIN = 'cluster.local';

type Role = 'mds' | 'oss';

/** The Lustre settings after applying the node type preset. */
export interface ResolvedLustre {
  fsName: string;
  backingFs: 'ldiskfs' | 'zfs';
  ha: boolean;
  topologyKey: string;
  mds: {
    count: number;
    targets: number;
    size: string | number;
    storageClassName?: string;
    resources: ResourceRequirements;
  };
  oss: {
    count: number;
    targets: number;
    size: string | number;
    storageClassName?: string;
    resources: ResourceRequirements;
  };
}

function lustreSpec(instance: KmeshInstance): LustreBackend {
  const lustre = instance.spec.backend.lustre;
  if (!lustre) throw new Error('lustre backend without spec.backend.lustre (the CRD schema should have refused it)');
  return lustre;
}

/** Spec values, or the preset's where the spec leaves them out (custom has no preset). */
export function resolveLustre(instance: KmeshInstance): ResolvedLustre {
  const spec = lustreSpec(instance);
  const preset = LUSTRE_NODE_TYPES[spec.nodeType === 'custom' || !spec.nodeType ? 'small' : spec.nodeType];
  const presetResources: ResourceRequirements = {
    requests: { cpu: preset.cpu, memory: preset.memory },
    limits: { memory: preset.memory },
  };
  return {
    fsName: spec.fsName,
    backingFs: spec.backingFs ?? 'ldiskfs',
    ha: spec.ha?.enabled ?? false,
    topologyKey: spec.ha?.topologyKey ?? 'topology.kubernetes.io/zone',
    mds: {
      count: spec.mds?.count ?? preset.mdsCount,
      targets: 1,
      size: spec.mds?.storage?.size ?? preset.mdtSize,
      storageClassName: spec.mds?.storage?.storageClassName,
      resources: spec.mds?.resources ?? presetResources,
    },
    oss: {
      count: spec.oss?.count ?? preset.ossCount,
      targets: spec.oss?.targetsPerServer ?? 1,
      size: spec.oss?.storage?.size ?? preset.ostSize,
      storageClassName: spec.oss?.storage?.storageClassName,
      resources: spec.oss?.resources ?? presetResources,
    },
  };
}

const podsPerServer = (lustre: ResolvedLustre): number => (lustre.ha ? 2 : 1);

/** The headless Service FQDN of a role; server pods are `<statefulset>-<ordinal>.<this>`. */
function serviceFqdn(instance: KmeshInstance, role: Role): string {
  return `${childName(instance.metadata.name!, role)}.${instance.metadata.namespace}.svc.${CLUSTER_DOMAIN}`;
}

/** The MGS NIDs (the first MDS pod, and its partner with HA), as clients and OSSs name them. */
export function mgsNids(instance: KmeshInstance, lustre: ResolvedLustre): string {
  const sts = childName(instance.metadata.name!, 'mds');
  const service = serviceFqdn(instance, 'mds');
  const nids = [`${sts}-0.${service}@tcp`];
  if (lustre.ha) nids.push(`${sts}-1.${service}@tcp`);
  return nids.join(':');
}

function observedServers(context: BackendContext, role: Role): { replicas: number; ready: number } | undefined {
  const name = childName(context.instance.metadata.name!, role);
  type ObservedStatefulSet = WireObject & { spec?: { replicas?: number }; status?: { readyReplicas?: number } };
  const sts: ObservedStatefulSet | undefined = context
    .observed(RESOURCES.statefulSet)
    .find((o) => o.metadata?.name === name);
  return sts ? { replicas: sts.spec?.replicas ?? 0, ready: sts.status?.readyReplicas ?? 0 } : undefined;
}

/** OSS servers to run: the spec's count, raised by autoscaling, never below what runs already. */
function ossServers(context: BackendContext, lustre: ResolvedLustre): number {
  const running = Math.floor((observedServers(context, 'oss')?.replicas ?? 0) / podsPerServer(lustre));
  return Math.max(lustre.oss.count, context.instance.status?.autoscale?.ossCount ?? 0, running);
}

function statefulSet(context: BackendContext, lustre: ResolvedLustre, role: Role, servers: number): WireObject {
  const { instance, settings } = context;
  const spec = lustreSpec(instance);
  const name = childName(instance.metadata.name!, role);
  const group = role === 'mds' ? lustre.mds : lustre.oss;
  const owner = ownedBy(instance, `lustre-${role}`);
  const selector = {
    'app.kubernetes.io/instance': instance.metadata.name!,
    'app.kubernetes.io/component': `lustre-${role}`,
    'kmesh.io/owner-uid': instance.metadata.uid!,
  };
  const prefix = role === 'mds' ? 'mdt' : 'ost';
  const targets = Array.from({ length: group.targets }, (_, t) => `${prefix}${t}`);
  const atRest = spec.atRest;
  const env = [
    { name: 'ROLE', value: role },
    { name: 'FSNAME', value: lustre.fsName },
    { name: 'BACKFS', value: lustre.backingFs },
    { name: 'TARGETS', value: String(group.targets) },
    { name: 'HA', value: String(lustre.ha) },
    { name: 'STATEFULSET', value: name },
    { name: 'SERVICE', value: serviceFqdn(instance, role) },
    { name: 'MGS_NIDS', value: mgsNids(instance, lustre) }, // MDT0 is the MGS itself; the other targets register with it
    ...(lustre.backingFs === 'zfs' && atRest?.compression && atRest.compression !== 'none'
      ? [{ name: 'ZFS_OPTIONS', value: `-o compression=${atRest.compression}` }]
      : []),
    ...(atRest?.encryption ? [{ name: 'KEY_FILE', value: '/etc/kmesh/at-rest/key' }] : []),
  ];
  const volumes = atRest?.encryption
    ? [
        {
          name: 'at-rest-key',
          secret: {
            secretName: atRest.encryption.keySecretRef.name,
            items: [{ key: atRest.encryption.keySecretRef.key ?? 'key', path: 'key' }],
          },
        },
      ]
    : [];
  const affinity = lustre.ha
    ? {
        podAntiAffinity: {
          preferredDuringSchedulingIgnoredDuringExecution: [
            {
              weight: 100,
              podAffinityTerm: { topologyKey: lustre.topologyKey, labelSelector: { matchLabels: selector } },
            },
          ],
        },
      }
    : undefined;
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name,
      namespace: instance.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    spec: {
      serviceName: name,
      replicas: servers * podsPerServer(lustre),
      // HA pairs are consecutive ordinals: create them in order so the spread constraint splits each pair.
      podManagementPolicy: lustre.ha ? 'OrderedReady' : 'Parallel',
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...owner.labels, ...selector } },
        spec: {
          hostNetwork: true,
          dnsPolicy: 'ClusterFirstWithHostNet',
          ...(spec.nodeSelector ? { nodeSelector: spec.nodeSelector } : {}),
          ...(spec.tolerations ? { tolerations: spec.tolerations } : {}),
          ...(affinity ? { affinity } : {}),
          ...(lustre.ha
            ? {
                topologySpreadConstraints: [
                  {
                    maxSkew: 1,
                    topologyKey: lustre.topologyKey,
                    whenUnsatisfiable: 'DoNotSchedule',
                    labelSelector: { matchLabels: selector },
                  },
                ],
              }
            : {}),
          terminationGracePeriodSeconds: 120,
          containers: [
            {
              name: role,
              image: spec.image ?? settings.lustreImage,
              command: ['/bin/sh', '-c', LUSTRE_SERVER_SCRIPT],
              env,
              ports: [{ name: 'lnet', containerPort: LNET_PORT, protocol: 'TCP' }],
              // Loading targets and LNet needs the host's kernel: this is why the pod is privileged.
              securityContext: { privileged: true, runAsUser: 0 },
              resources: group.resources,
              readinessProbe: {
                exec: { command: ['/bin/sh', '-c', 'lctl get_param -n health_check | grep -qx healthy'] },
                periodSeconds: 10,
                timeoutSeconds: 5,
              },
              volumeDevices: targets.map((target) => ({ name: target, devicePath: `/dev/kmesh/${target}` })),
              ...(volumes.length
                ? { volumeMounts: [{ name: 'at-rest-key', mountPath: '/etc/kmesh/at-rest', readOnly: true }] }
                : {}),
            },
          ],
          ...(volumes.length ? { volumes } : {}),
        },
      },
      volumeClaimTemplates: targets.map((target) => ({
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        metadata: { name: target },
        spec: {
          accessModes: ['ReadWriteOnce'],
          volumeMode: 'Block',
          ...(group.storageClassName ? { storageClassName: group.storageClassName } : {}),
          resources: { requests: { storage: String(group.size) } },
        },
      })),
    },
  };
}

function headlessService(instance: KmeshInstance, role: Role): WireObject {
  const name = childName(instance.metadata.name!, role);
  const owner = ownedBy(instance, `lustre-${role}`);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: instance.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    spec: {
      clusterIP: 'None',
      // Targets are formatted before the pods are ready, and formatting needs the names to resolve.
      publishNotReadyAddresses: true,
      selector: {
        'app.kubernetes.io/instance': instance.metadata.name!,
        'app.kubernetes.io/component': `lustre-${role}`,
        'kmesh.io/owner-uid': instance.metadata.uid!,
      },
      ports: [{ name: 'lnet', port: LNET_PORT, targetPort: LNET_PORT, protocol: 'TCP' }],
    },
  };
}

export const lustreBackend: FilesystemBackend = {
  type: 'lustre',
  childTypes: [RESOURCES.statefulSet, RESOURCES.service],

  // Clients mount the servers' export by its source, not a host directory: nothing to confine.
  unsafe: () => undefined,

  refuse(context): Refusal | undefined {
    const lustre = resolveLustre(context.instance);
    if (!lustreSpec(context.instance).image && !context.settings.lustreImage) {
      return {
        reason: Reasons.ImageNotConfigured,
        message: 'no Lustre server image: set spec.backend.lustre.image or the operator’s lustreImage setting',
      };
    }
    const running = Math.floor((observedServers(context, 'oss')?.replicas ?? 0) / podsPerServer(lustre));
    if (lustre.oss.count < running) {
      return {
        reason: Reasons.ScaleDownRefused,
        message: `oss.count ${lustre.oss.count} is below the ${running} OSSs running: removing an OSS would take its OSTs' data with it, so Kmesh keeps ${running}`,
      };
    }
    return undefined;
  },

  desired(context): WireObject[] {
    if (!lustreSpec(context.instance).image && !context.settings.lustreImage) return [];
    const lustre = resolveLustre(context.instance);
    return [
      headlessService(context.instance, 'mds'),
      headlessService(context.instance, 'oss'),
      statefulSet(context, lustre, 'mds', lustre.mds.count),
      statefulSet(context, lustre, 'oss', ossServers(context, lustre)),
    ];
  },

  observe(context): FilesystemState {
    const lustre = resolveLustre(context.instance);
    const perServer = podsPerServer(lustre);
    const mds = { ready: observedServers(context, 'mds')?.ready ?? 0, desired: lustre.mds.count * perServer };
    const oss = {
      ready: observedServers(context, 'oss')?.ready ?? 0,
      desired: ossServers(context, lustre) * perServer,
    };
    const servers = { mds, oss };
    const ossRunning = Math.floor((observedServers(context, 'oss')?.replicas ?? 0) / perServer);
    const summary = `${mds.ready}/${mds.desired} MDS and ${oss.ready}/${oss.desired} OSS pods ready`;
    const ready = mds.ready >= mds.desired && oss.ready >= oss.desired && mds.desired > 0;
    // Degraded: serving (the MGS/MDT is up and some OSSs are) but not at full strength.
    const serving = mds.ready > 0 && oss.ready > 0;
    return {
      ready,
      reason: ready ? Reasons.ServersReady : Reasons.ServersNotReady,
      message: summary,
      ...(serving && !ready ? { degraded: summary } : {}),
      servers,
      mountSource: `${mgsNids(context.instance, lustre)}:/${lustre.fsName}`,
      ossServers: ossRunning,
    };
  },

  // Clients reach the servers over the network from any node; the node plugin mounts the client.
  nodeFor: () => undefined,
};
