/**
 * The sync gateway of a KmeshInstance: a ConfigMap with its configuration
 * (api/sync-config/gateway.ts), a Deployment running `kmesh gateway` with the instance's
 * filesystem, TLS Secret and the received DataFlows' keys mounted, and a Service other sites
 * reach it through.
 */
import { stringify } from 'yaml';
import {
  PUBLISHED_FILE_NAME,
  type GatewayConfigDocument,
  type ServedDataFlowDocument,
} from '../../../api/sync-config/gateway.js';
import { GATEWAY_PORT } from '../../../api/v1alpha1/kmesh-instance.js';
import { actedOnPeers, Reasons, type DataFlow, type KmeshInstance } from '../../../api/v1alpha1/index.js';
import type { WireObject } from '../../../lib/kube/rest.js';
import type { FilesystemAccess } from '../../backends/backend.js';
import { filesystemPod } from '../../backends/pod.js';
import { childName, ownedBy } from '../../runtime/children.js';
import type { OperatorSettings } from '../../settings.js';
import { DATA_MOUNT_PATH, encryptionConfig, keyProjection, KEYS_MOUNT_PATH, stateDir, treeDir } from '../../layout.js';

export const TLS_MOUNT_PATH = '/etc/kmesh/tls';
export const CONFIG_MOUNT_PATH = '/etc/kmesh/gateway';

/**
 * DataFlows of this instance that the gateway serves: those other sites send to (a peer with
 * direction pull) and those other sites may read (a peer with direction push reads the published
 * version lazily, docs/architecture.md#reads-access-cache). A bidirectional peer is not supported
 * (it would overwrite local edits) and is left out.
 */
export function servedDataFlows(instance: KmeshInstance, dataFlows: DataFlow[]): DataFlow[] {
  return dataFlows
    .filter(
      (d) =>
        d.metadata.namespace === instance.metadata.namespace &&
        d.spec.instanceRef.name === instance.metadata.name &&
        !d.metadata.deletionTimestamp,
    )
    .filter((d) => actedOnPeers(d.spec).length > 0)
    .sort((a, b) => (a.metadata.name! < b.metadata.name! ? -1 : 1));
}

/**
 * The gateway's configuration document: which DataFlows it serves, to and from whom (and which
 * subtrees each reader sees), with which key, and where the worker publishes the version readers get.
 */
export function gatewayConfig(dataFlows: DataFlow[], settings: OperatorSettings): GatewayConfigDocument {
  return {
    host: '0.0.0.0',
    port: GATEWAY_PORT,
    metricsPort: settings.gatewayHealthPort,
    tlsDir: TLS_MOUNT_PATH,
    filesystem: DATA_MOUNT_PATH,
    dataFlows: dataFlows.map((d): ServedDataFlowDocument => ({
      name: `${d.metadata.namespace}/${d.metadata.name}`,
      treeDir: treeDir(d),
      stateDir: stateDir(d, 'gateway'),
      deletedRetention: d.spec.policy?.deletedRetention,
      peers: actedOnPeers(d.spec).map((p) => ({
        name: p.name,
        direction: p.direction,
        ...(p.paths?.length ? { paths: p.paths } : {}),
      })),
      encryption: encryptionConfig(d),
      publishedFile: `${stateDir(d, 'worker')}/${PUBLISHED_FILE_NAME}`,
    })),
  };
}

/** The gateway's ConfigMap, holding its configuration (api/sync-config/gateway.ts). */
export function gatewayConfigMap(
  instance: KmeshInstance,
  dataFlows: DataFlow[],
  settings: OperatorSettings,
): WireObject {
  const owner = ownedBy(instance, 'gateway');
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: gatewayName(instance),
      namespace: instance.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    data: { 'config.yaml': stringify(gatewayConfig(dataFlows, settings)) },
  };
}

/** Gateway replicas the spec asks for (0 when there is no gateway section). */
export function gatewayReplicas(instance: KmeshInstance): number {
  return instance.spec.gateway ? (instance.spec.gateway.replicas ?? 1) : 0;
}

export const gatewayName = (instance: KmeshInstance): string => childName(instance.metadata.name!, 'gateway');

export function gatewaySelector(instance: KmeshInstance): Record<string, string> {
  return {
    'app.kubernetes.io/instance': instance.metadata.name!,
    'app.kubernetes.io/component': 'gateway',
    'kmesh.io/owner-uid': instance.metadata.uid!,
  };
}

export function gatewayDeployment(
  instance: KmeshInstance,
  settings: OperatorSettings,
  access: FilesystemAccess,
  dataFlows: DataFlow[],
): WireObject {
  const owner = ownedBy(instance, 'gateway');
  const selector = gatewaySelector(instance);
  const tlsSecret = instance.spec.gateway?.tlsSecretRef?.name;
  const keys = dataFlows.map(keyProjection).filter((k) => k !== undefined);
  const shared = filesystemPod(access, settings);
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: gatewayName(instance),
      namespace: instance.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    spec: {
      replicas: gatewayReplicas(instance),
      selector: { matchLabels: selector },
      template: {
        metadata: { labels: { ...owner.labels, ...selector } },
        spec: {
          ...shared.pod,
          containers: [
            {
              name: 'gateway',
              image: settings.image,
              args: ['gateway', '--config', `${CONFIG_MOUNT_PATH}/config.yaml`],
              ports: [
                { name: 'sync', containerPort: GATEWAY_PORT, protocol: 'TCP' },
                { name: 'health', containerPort: settings.gatewayHealthPort, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/readyz', port: 'health' }, periodSeconds: 10 },
              livenessProbe: { httpGet: { path: '/healthz', port: 'health' }, periodSeconds: 20, failureThreshold: 3 },
              ...shared.container,
              resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '1Gi' } },
              volumeMounts: [
                ...access.volumeMounts,
                { name: 'tls', mountPath: TLS_MOUNT_PATH, readOnly: true },
                { name: 'config', mountPath: CONFIG_MOUNT_PATH, readOnly: true },
                ...(keys.length ? [{ name: 'keys', mountPath: KEYS_MOUNT_PATH, readOnly: true }] : []),
              ],
            },
          ],
          volumes: [
            ...access.volumes,
            { name: 'tls', secret: { secretName: tlsSecret, defaultMode: 0o440 } },
            { name: 'config', configMap: { name: gatewayName(instance) } },
            // A new encrypted DataFlow changes this list, which rolls the gateway to mount its key.
            ...(keys.length ? [{ name: 'keys', projected: { sources: keys, defaultMode: 0o440 } }] : []),
          ],
        },
      },
    },
  };
}

export function gatewayService(instance: KmeshInstance): WireObject {
  const owner = ownedBy(instance, 'gateway');
  const service = instance.spec.gateway?.service;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: gatewayName(instance),
      namespace: instance.metadata.namespace,
      labels: owner.labels,
      ownerReferences: owner.ownerReferences,
    },
    spec: {
      type: service?.type ?? 'ClusterIP',
      selector: gatewaySelector(instance),
      ports: [
        {
          name: 'sync',
          port: service?.port ?? GATEWAY_PORT,
          targetPort: 'sync',
          protocol: 'TCP',
          ...(service?.nodePort ? { nodePort: service.nodePort } : {}),
        },
      ],
    },
  };
}

export interface GatewayState {
  ready: boolean;
  reason: string;
  message: string;
  endpoint?: string;
  /** Available replicas below the desired count while some serve. */
  degraded?: string;
}

type ObservedDeployment = WireObject & {
  spec?: { replicas?: number };
  status?: { availableReplicas?: number; observedGeneration?: number };
};
type ObservedService = WireObject & {
  spec?: { type?: string; ports?: Array<{ port?: number; nodePort?: number }> };
  status?: { loadBalancer?: { ingress?: Array<{ ip?: string; hostname?: string }> } };
};

type ObservedPod = WireObject & { status?: { phase?: string; hostIP?: string } };

/**
 * Where other sites reach the gateway: the cluster DNS name (ClusterIP: reachable only from inside,
 * or through what the user puts in front), the load balancer's address, or, for NodePort, the
 * address of the node a gateway pod runs on with the node port.
 */
function gatewayEndpoint(service: ObservedService, pods: ObservedPod[]): string | undefined {
  const port = service.spec?.ports?.[0];
  switch (service.spec?.type) {
    case 'LoadBalancer': {
      const ingress = service.status?.loadBalancer?.ingress?.[0];
      return ingress ? `${ingress.ip ?? ingress.hostname}:${port?.port ?? GATEWAY_PORT}` : undefined;
    }
    case 'NodePort': {
      const hostIP = pods.find((pod) => pod.status?.phase === 'Running' && pod.status.hostIP)?.status?.hostIP;
      return hostIP && port?.nodePort ? `${hostIP}:${port.nodePort}` : undefined;
    }
    default:
      return `${service.metadata?.name}.${service.metadata?.namespace}.svc:${port?.port ?? GATEWAY_PORT}`;
  }
}

/** The gateway's state from its Deployment, Service and pods as they are in the cluster. */
export function observeGateway(
  instance: KmeshInstance,
  deployment: ObservedDeployment | undefined,
  service: ObservedService | undefined,
  pods: ObservedPod[] = [],
): GatewayState {
  const desired = gatewayReplicas(instance);
  if (desired === 0)
    return {
      ready: true,
      reason: Reasons.GatewayDisabled,
      message: 'no gateway: this instance sends to other sites but does not receive',
    };
  if (!deployment || !service)
    return {
      ready: false,
      reason: Reasons.GatewayUnavailable,
      message: 'gateway Deployment or Service not created yet',
    };
  const available = deployment.status?.availableReplicas ?? 0;
  const endpoint = gatewayEndpoint(service, pods);
  if (available === 0)
    return {
      ready: false,
      reason: Reasons.GatewayUnavailable,
      message: `0/${desired} gateway pods available`,
      ...(endpoint ? { endpoint } : {}),
    };
  if (!endpoint)
    return {
      ready: false,
      reason: Reasons.GatewayUnavailable,
      message:
        service.spec?.type === 'NodePort'
          ? 'waiting for a running gateway pod on a node (its address and the node port are the endpoint)'
          : 'waiting for the load balancer to assign an address',
    };
  return {
    ready: true,
    reason: Reasons.GatewayAvailable,
    message: `${available}/${desired} gateway pods available at ${endpoint}`,
    endpoint,
    ...(available < desired ? { degraded: `${available}/${desired} gateway pods available` } : {}),
  };
}
