import { describe, expect, it } from '@jest/globals';
import type { DataFlow, KmeshInstance } from '../../../api/v1alpha1/index.js';
import type { WireObject } from '../../../lib/kube/rest.js';
import { gatewayService, observeGateway, servedDataFlows } from './gateway.js';

function instance(service: Record<string, unknown>): KmeshInstance {
  return {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'KmeshInstance',
    metadata: { name: 'west', namespace: 'apps', uid: 'u1' },
    spec: {
      backend: { type: 'local', local: { path: '/data/west' } },
      gateway: { replicas: 1, service, tlsSecretRef: { name: 'west-tls' } },
    },
  } as unknown as KmeshInstance;
}

const deployment = { metadata: { name: 'kmesh-gateway-west' }, status: { availableReplicas: 1 } };
const service = (type: string, extra: Record<string, unknown> = {}): WireObject => ({
  metadata: { name: 'kmesh-gateway-west', namespace: 'apps' },
  spec: { type, ports: [{ port: 7443, nodePort: 31443 }] },
  ...extra,
});
const pod = (phase: string, hostIP?: string): WireObject => ({ metadata: { name: 'gw' }, status: { phase, hostIP } });

describe('the gateway endpoint other sites use', () => {
  it('ClusterIP: the Service DNS name', () => {
    const state = observeGateway(instance({ type: 'ClusterIP' }), deployment, service('ClusterIP'));
    expect(state).toMatchObject({ ready: true, endpoint: 'kmesh-gateway-west.apps.svc:7443' });
  });

  it('NodePort: the address of the node a running gateway pod is on, and the node port', () => {
    const spec = instance({ type: 'NodePort' });
    expect(observeGateway(spec, deployment, service('NodePort'), [pod('Running', '10.244.2.1')])).toMatchObject({
      ready: true,
      endpoint: '10.244.2.1:31443',
    });
    // A pod not yet on a node, or not running, gives no address: not ready, and says why.
    const waiting = observeGateway(spec, deployment, service('NodePort'), [pod('Pending')]);
    expect(waiting.ready).toBe(false);
    expect(waiting.endpoint).toBeUndefined();
    expect(waiting.message).toMatch(/running gateway pod on a node/);
  });

  it('LoadBalancer: the address the load balancer got, none before', () => {
    const spec = instance({ type: 'LoadBalancer' });
    expect(observeGateway(spec, deployment, service('LoadBalancer')).ready).toBe(false);
    const assigned = service('LoadBalancer', { status: { loadBalancer: { ingress: [{ ip: '203.0.113.7' }] } } });
    expect(observeGateway(spec, deployment, assigned)).toMatchObject({ ready: true, endpoint: '203.0.113.7:7443' });
  });

  it('renders spec.gateway.service.nodePort into the Service, and leaves it to Kubernetes when unset', () => {
    const pinned = gatewayService(instance({ type: 'NodePort', nodePort: 31443 })) as {
      spec: { type: string; ports: Array<{ nodePort?: number }> };
    };
    expect(pinned.spec.type).toBe('NodePort');
    expect(pinned.spec.ports[0]!.nodePort).toBe(31443);
    const picked = gatewayService(instance({ type: 'NodePort' })) as { spec: { ports: Array<{ nodePort?: number }> } };
    expect(picked.spec.ports[0]!.nodePort).toBeUndefined();
  });
});

describe('the DataFlows the gateway serves', () => {
  const flow = (name: string, directions: string[], instanceName = 'west'): DataFlow =>
    ({
      apiVersion: 'kmesh.io/v1alpha1',
      kind: 'DataFlow',
      metadata: { name, namespace: 'apps', uid: `uid-${name}` },
      spec: {
        instanceRef: { name: instanceName },
        peers: directions.map((direction, i) => ({
          name: `site-${i}`,
          endpoint: `site-${i}:7443`,
          direction,
          tlsSecretRef: { name: 'tls' },
        })),
      },
    }) as unknown as DataFlow;

  it('are those other sites send to (pull) and those they may read (push), not bidirectional-only or peerless ones', () => {
    const flows = [
      flow('pushes', ['push']),
      flow('pulls', ['pull']),
      flow('alone', []),
      flow('both', ['bidirectional']),
      flow('elsewhere', ['push'], 'east'),
    ];
    expect(servedDataFlows(instance({}), flows).map((d) => d.metadata.name)).toEqual(['pulls', 'pushes']);
  });
});
