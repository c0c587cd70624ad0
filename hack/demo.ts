/**
 * `npm run demo`: a guided tour on a local control plane. It starts (or reuses) the developer
 * cluster, installs the Kmesh CRDs, applies every manifest in examples/ and shows what a platform
 * engineer would look at, then runs the operator on them. Later capabilities (CSI, sync) extend this tour.
 */
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { applyObjects } from '../lib/kube/apply.js';
import { waitForCrdsEstablished, waitForOpenApiPublished } from '../lib/kube/crds.js';
import { ClusterCredentials } from '../lib/kube/credentials.js';
import { readManifestDir } from '../lib/kube/manifests.js';
import { GROUP, KINDS, VERSION, type KmeshInstance } from '../api/v1alpha1/index.js';
import { RESOURCES } from '../lib/kube/resources.js';
import { KubeApiError, KubeClient } from '../lib/kube/rest.js';
import { parseOperatorConfig } from '../operator/config.js';
import { startOperator } from '../operator/run.js';
import { describeCluster, ensureDevCluster } from './control-plane/dev-cluster.js';
import { REPO_ROOT, toolPath } from './tools.js';

const NAMESPACE = 'kmesh-demo';
const FIELD_MANAGER = 'kmesh-demo';

function step(title: string, what: string): void {
  console.log(`\n\x1b[1m== ${title}\x1b[0m\n${what}\n`);
}

function kubectl(kubeconfig: string, ...args: string[]): void {
  const shown = ['kubectl', ...args].join(' ');
  console.log(`$ ${shown}`);
  console.log(execFileSync(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8' }).trimEnd());
}

step('1. A real control plane', 'etcd, kube-apiserver and kube-controller-manager on loopback, built from pinned Go modules.');
const cluster = await ensureDevCluster((line) => console.log(`   ${line}`));
console.log(describeCluster(cluster));
const client = new KubeClient(ClusterCredentials.fromFile(cluster.kubeconfigPath));

step('2. The Kmesh API', 'Four CRDs (group kmesh.io, v1alpha1), generated from api/v1alpha1/*.ts.');
const crds = (await readManifestDir(join(REPO_ROOT, 'crds'))).flatMap((f) => f.objects);
await applyObjects(client, crds, FIELD_MANAGER);
await waitForCrdsEstablished(client, crds.map((c) => c.metadata!.name!), 30_000);
kubectl(cluster.kubeconfigPath, 'get', 'crd', '-l', 'app.kubernetes.io/part-of=kmesh');

step('3. The examples', `Every manifest in examples/, applied to namespace ${NAMESPACE}. Status columns stay empty until the operator runs (step 7).`);
await applyObjects(client, [{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NAMESPACE } }], FIELD_MANAGER);
const examples = await readManifestDir(join(REPO_ROOT, 'examples'));
for (const { file, objects } of examples) {
  await applyObjects(client, objects, FIELD_MANAGER, { namespace: NAMESPACE });
  console.log(`applied examples/${file}`);
}
kubectl(cluster.kubeconfigPath, 'get', 'kmesh', '-n', NAMESPACE);

step('4. Defaults', 'The API server fills in what the example left out: look at spec.policy and spec.snapshots.');
kubectl(cluster.kubeconfigPath, 'get', 'dataflow', 'raw-images', '-n', NAMESPACE, '-o', 'jsonpath={.spec.policy}{"\\n"}{.spec.snapshots.retention}');

step('5. Documentation in the cluster', 'Every field has a description, so kubectl explain is the reference.');
await waitForOpenApiPublished(client, GROUP, VERSION, KINDS.map((k) => k.kind), 60_000);
kubectl(cluster.kubeconfigPath, 'explain', 'dataflow.spec.peers.direction');

step('6. Validation', 'Bad input is refused by the API server with a message that names the field.');
const invalid = {
  apiVersion: 'kmesh.io/v1alpha1',
  kind: 'DataFlow',
  metadata: { name: 'broken', namespace: NAMESPACE },
  spec: { instanceRef: { name: 'dev' }, policy: { encryption: { algorithm: 'aes-256-gcm' } } },
};
try {
  await client.create(RESOURCES.dataFlow, invalid, { dryRun: true });
  console.log('unexpected: the invalid DataFlow was accepted');
  process.exitCode = 1;
} catch (error) {
  console.log(`rejected: ${error instanceof KubeApiError ? error.status?.message : String(error)}`);
}

step('7. The operator', 'kmesh operator reconciles the instances: the local one becomes Ready (no gateway to wait for); the Lustre one gets its MDS/OSS StatefulSets and says what it waits for.');
const operatorStop = new AbortController();
const operator = await startOperator(
  parseOperatorConfig([`--kubeconfig=${cluster.kubeconfigPath}`, '--leader-elect=false', '--health-port=0', '--lustre-image=kmesh.example/lustre-server:2.15', `--watch-namespace=${NAMESPACE}`], {}),
  operatorStop.signal,
);
for (let i = 0; i < 100; i++) {
  const dev = await client.get<KmeshInstance>(RESOURCES.kmeshInstance, NAMESPACE, 'dev');
  const awsEast = await client.get<KmeshInstance>(RESOURCES.kmeshInstance, NAMESPACE, 'aws-east');
  if (dev?.status?.phase === 'Ready' && awsEast?.status?.phase) break;
  await new Promise((resolve) => setTimeout(resolve, 100));
}
kubectl(cluster.kubeconfigPath, 'get', 'kmeshinstances', '-n', NAMESPACE);
kubectl(cluster.kubeconfigPath, 'get', 'statefulsets,services', '-n', NAMESPACE, '-l', 'app.kubernetes.io/instance=aws-east');
kubectl(cluster.kubeconfigPath, 'get', 'kmeshinstance', 'aws-east', '-n', NAMESPACE, '-o', 'jsonpath={range .status.conditions[*]}{.type}={.status} ({.reason}): {.message}{"\\n"}{end}');
operatorStop.abort();
await operator.stopped;
client.close();

step('Done', `The cluster keeps running. Explore it with:\n  export KUBECONFIG=${cluster.kubeconfigPath}\n  hack/bin/kubectl get kmesh -A\nStop it with: npm run cluster:down`);
