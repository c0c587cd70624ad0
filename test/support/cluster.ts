/** What integration tests share: a client for the test control plane, namespaces and the Kmesh CRDs. */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { applyObjects } from '../../lib/kube/apply.js';
import { waitForCrdsEstablished, type ServedCrd } from '../../lib/kube/crds.js';
import { readManifestDir } from '../../lib/kube/manifests.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { CredentialSource } from '../../lib/kube/credentials.js';
import { kubeconfigCredentials } from '../../lib/kube/kubeconfig.js';
import { KubeClient, type WireObject } from '../../lib/kube/rest.js';
import { REPO_ROOT } from '../../hack/tools.js';

export const TEST_FIELD_MANAGER = 'kmesh-tests';
const CRD_ESTABLISH_TIMEOUT_MS = 30_000;

/** The kubeconfig of the control plane the global setup started (KUBECONFIG), read as a person's is. */
export function testKubeConfig(): CredentialSource {
  const path = process.env['KUBECONFIG'];
  if (!path)
    throw new Error(
      'KUBECONFIG is not set: run integration tests through jest (its global setup starts a control plane)',
    );
  return kubeconfigCredentials(path);
}

/** A client for the test control plane, as its admin; close it in afterAll. */
export function testClient(): KubeClient {
  return new KubeClient(testKubeConfig());
}

/** Applies crds/*.yaml (idempotent) and waits until every one is Established. */
export async function installCrds(client: KubeClient): Promise<ServedCrd[]> {
  const crds = (await readManifestDir(join(REPO_ROOT, 'crds'))).flatMap((f) => f.objects);
  await applyObjects(client, crds, TEST_FIELD_MANAGER);
  return waitForCrdsEstablished(
    client,
    crds.map((c) => c.metadata!.name!),
    CRD_ESTABLISH_TIMEOUT_MS,
  );
}

/** Creates a namespace with a unique name; delete it with `deleteNamespace` in afterAll. */
/** The reasons of the Events recorded in `namespace` about the object named `name`, oldest first. */
export async function eventReasons(client: KubeClient, namespace: string, name: string): Promise<string[]> {
  const list = await client.list<WireObject & { reason?: string; regarding?: { name?: string } }>(RESOURCES.event, {
    namespace,
  });
  return list.items.filter((e) => e.regarding?.name === name).map((e) => e.reason ?? '');
}

export async function createNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await client.create(RESOURCES.namespace, { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}

export async function deleteNamespace(client: KubeClient, name: string): Promise<void> {
  await client.delete(RESOURCES.namespace, undefined, name);
}
