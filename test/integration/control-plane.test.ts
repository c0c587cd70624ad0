import { describe, expect, it } from '@jest/globals';
import { AuthenticationV1Api, KubeConfig } from '@kubernetes/client-node';
import { existsSync } from 'node:fs';
import { readState, startControlPlane, stopControlPlane } from '../../hack/control-plane/control-plane.js';
import { isRunning } from '../../hack/control-plane/process.js';
import { KubeClient } from '../../lib/kube/rest.js';

describe('the control-plane launcher', () => {
  it('starts a second, independent control plane and removes every trace of it on stop', async () => {
    const state = await startControlPlane({ controllerManager: false });
    try {
      expect(readState(state.workDir)).toEqual(state);
      expect(state.processes.map((p) => p.name)).toEqual(['etcd', 'kube-apiserver']);
      expect(state.processes.every(isRunning)).toBe(true);
      expect(state.timings.apiServerReadyMs).toBeGreaterThan(state.timings.etcdReadyMs);

      // The admin kubeconfig authenticates with a client certificate the API server's CA signed.
      const kc = new KubeConfig();
      kc.loadFromFile(state.kubeconfigPath);
      const client = new KubeClient(kc);
      expect(await client.request('GET', '/readyz')).toBe('ok');
      client.close();
      const review = await kc.makeApiClient(AuthenticationV1Api).createSelfSubjectReview({ body: {} });
      expect(review.status?.userInfo?.username).toBe('kmesh-admin');
      expect(review.status?.userInfo?.groups).toContain('system:masters');
    } finally {
      await stopControlPlane(state.workDir);
    }
    expect(state.processes.some(isRunning)).toBe(false);
    expect(existsSync(state.workDir)).toBe(false);
    await expect(stopControlPlane(state.workDir)).resolves.toBeUndefined(); // idempotent
  });
});
