/**
 * Running the operator in integration tests: as its ServiceAccount (impersonated, bound to the
 * RBAC rules in operator/rbac/), watching only the test's namespace, on the test control plane.
 */
import { join } from 'node:path';
import { applyObjects } from '../../lib/kube/apply.js';
import { readManifestFile } from '../../lib/kube/manifests.js';
import { REPO_ROOT } from '../../hack/tools.js';
import type { OperatorConfig } from '../../operator/config.js';
import { startOperator, type OperatorHandle } from '../../operator/run.js';
import { KubeClient } from '../../lib/kube/rest.js';
import { TEST_FIELD_MANAGER, testKubeConfig } from './cluster.js';

export const OPERATOR_NAMESPACE = 'kmesh-system';
export const OPERATOR_USER = `system:serviceaccount:${OPERATOR_NAMESPACE}:kmesh-operator`;

/** The operator's ServiceAccount bound to operator/rbac/*.yaml (idempotent). */
export async function installOperatorRbac(client: KubeClient): Promise<void> {
  await bindClusterRole(client, 'kmesh-operator', join(REPO_ROOT, 'operator', 'rbac', 'cluster-role.yaml'));
  const [role] = await readManifestFile(join(REPO_ROOT, 'operator', 'rbac', 'leader-election-role.yaml'));
  await applyObjects(
    client,
    [
      { ...role!, metadata: { ...role!.metadata, namespace: OPERATOR_NAMESPACE } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name: 'kmesh-operator-leader-election', namespace: OPERATOR_NAMESPACE },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kmesh-operator-leader-election' },
        subjects: [{ kind: 'ServiceAccount', name: 'kmesh-operator', namespace: OPERATOR_NAMESPACE }],
      },
    ],
    TEST_FIELD_MANAGER,
  );
}

/**
 * A ServiceAccount `name` in the Kmesh namespace bound to the ClusterRole in `clusterRoleFile`
 * (idempotent); returns the user name to impersonate it with.
 */
export async function bindClusterRole(client: KubeClient, name: string, clusterRoleFile: string): Promise<string> {
  const [clusterRole] = await readManifestFile(clusterRoleFile);
  await applyObjects(
    client,
    [
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: OPERATOR_NAMESPACE } },
      { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name, namespace: OPERATOR_NAMESPACE } },
      clusterRole!,
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'ClusterRoleBinding',
        metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole!.metadata!.name! },
        subjects: [{ kind: 'ServiceAccount', name, namespace: OPERATOR_NAMESPACE }],
      },
    ],
    TEST_FIELD_MANAGER,
  );
  return `system:serviceaccount:${OPERATOR_NAMESPACE}:${name}`;
}

/** Binds the ServiceAccount `name` of bindClusterRole to the Role in `roleFile`, in `namespace` (idempotent). */
export async function bindRole(client: KubeClient, name: string, namespace: string, roleFile: string): Promise<void> {
  const [role] = await readManifestFile(roleFile);
  await applyObjects(
    client,
    [
      { ...role!, metadata: { ...role!.metadata, namespace } },
      {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'RoleBinding',
        metadata: { name, namespace },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role!.metadata!.name! },
        subjects: [{ kind: 'ServiceAccount', name, namespace: OPERATOR_NAMESPACE }],
      },
    ],
    TEST_FIELD_MANAGER,
  );
}

/** A client acting as `user` (a ServiceAccount), with the groups the API server gives one. */
export function impersonating(user: string): KubeClient {
  const namespace = user.split(':')[2];
  return new KubeClient(testKubeConfig(), {
    impersonateUser: user,
    impersonateGroups: ['system:serviceaccounts', `system:serviceaccounts:${namespace}`, 'system:authenticated'],
  });
}

/** Host roots the test operator allows local instances below (the tests' instances live there). */
export const TEST_LOCAL_ROOTS = ['/var/lib/kmesh', '/srv/kmesh'];

/** Operator configuration for tests; `overrides` replace top-level fields. */
export function testOperatorConfig(namespace: string, overrides: Partial<OperatorConfig> = {}): OperatorConfig {
  return {
    settings: {
      image: 'kmesh.test/kmesh:dev',
      lustreImage: 'kmesh.test/lustre-server:2.15',
      runAsUser: 65532,
      workerStatusPort: 8080,
      gatewayHealthPort: 8081,
      syncInterval: '10s',
      localRoots: TEST_LOCAL_ROOTS,
      csiNamespace: namespace,
      csiDriverName: 'csi.kmesh.io',
    },
    kubeconfig: process.env['KUBECONFIG']!,
    watchNamespace: namespace,
    healthPort: 0,
    leaderElection: {
      enabled: false,
      namespace: OPERATOR_NAMESPACE,
      name: `kmesh-operator-${namespace}`,
      identity: `test-${namespace}`,
      leaseDurationMs: 15_000,
      renewDeadlineMs: 10_000,
      retryPeriodMs: 2_000,
    },
    workers: 4,
    watchTimeoutSeconds: 60,
    resyncMs: 600_000,
    impersonate: OPERATOR_USER,
    ...overrides,
  };
}

/** A running in-process operator and the way to stop it. */
export interface TestOperator extends OperatorHandle {
  stop(): Promise<void>;
}

export async function startTestOperator(config: OperatorConfig): Promise<TestOperator> {
  const abort = new AbortController();
  const handle = await startOperator(config, abort.signal);
  return {
    ...handle,
    stop: async () => {
      abort.abort();
      await handle.stopped;
    },
  };
}
