/** What integration tests share: a client for the test control plane, namespaces and the Kmesh CRDs. */
import { CoreV1Api, KubeConfig, KubernetesObjectApi } from '@kubernetes/client-node';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { applyObjects } from '../../lib/kube/apply.js';
import { waitForCrdsEstablished } from '../../lib/kube/crds.js';
import { readManifestDir } from '../../lib/kube/manifests.js';
import { REPO_ROOT } from '../../hack/tools.js';

export const TEST_FIELD_MANAGER = 'kmesh-tests';
const CRD_ESTABLISH_TIMEOUT_MS = 30_000;

/** A client config for the control plane the global setup started (KUBECONFIG). */
export function testKubeConfig(): KubeConfig {
  const path = process.env['KUBECONFIG'];
  if (!path) throw new Error('KUBECONFIG is not set: run integration tests through jest (its global setup starts a control plane)');
  const kc = new KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** Applies crds/*.yaml (idempotent) and waits until every one is Established. */
export async function installCrds(kc: KubeConfig) {
  const files = await readManifestDir(join(REPO_ROOT, 'crds'));
  const crds = files.flatMap((f) => f.objects);
  await applyObjects(kc, crds, TEST_FIELD_MANAGER);
  return waitForCrdsEstablished(kc, crds.map((c) => c.metadata!.name!), CRD_ESTABLISH_TIMEOUT_MS);
}

/** Creates a namespace with a unique name; delete it with `deleteNamespace` in afterAll. */
export async function createNamespace(kc: KubeConfig, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString('hex')}`;
  await kc.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

export async function deleteNamespace(kc: KubeConfig, name: string): Promise<void> {
  await kc.makeApiClient(CoreV1Api).deleteNamespace({ name }).catch(() => undefined);
}

export function objectApi(kc: KubeConfig): KubernetesObjectApi {
  return KubernetesObjectApi.makeApiClient(kc);
}
