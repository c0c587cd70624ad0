/**
 * `npm run demo:two-sites`: one dataset live at two sites, as a guided tour (needs root). Two
 * clusters come up on this machine (east, west), each in a network namespace of its own, joined
 * by a WAN link; Kmesh is installed at each with `helm install`; the sites get certificates from
 * one CA; east's DataFlow pushes to west's gateway; a pod at east writes, a pod at west reads; the
 * link is cut and restored. Everything stays for exploring; the last step says how to remove it.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installChart, kubectl } from './cluster/kmesh-release.js';
import { parseSites, setLink, startSites } from './cluster/sites.js';
import {
  createSiteSecrets,
  REPLICA_FLOW,
  replicaDataFlow,
  SHARED_SUBTREE,
  SITE_PVC,
  siteClaim,
  siteInstance,
  siteValues,
  SOURCE_FLOW,
  sourceDataFlow,
  TWO_SITES_NAMESPACE as NS,
} from './cluster/two-sites.js';
import { nodePod } from './cluster/walkthrough.js';
import { show, step, until } from './tour.js';
import type { ClusterState } from './cluster/cluster.js';

/** `kubectl apply --server-side` of one object, as a user applies a manifest. */
async function kubectlApply(state: ClusterState, object: object): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'kmesh-demo-'));
  writeFileSync(join(dir, 'object.json'), JSON.stringify(object));
  try {
    await kubectl(state, 'apply', '--server-side', '--field-manager=kmesh-demo', '-f', join(dir, 'object.json'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
const jsonpath = (state: ClusterState, kind: string, name: string, path: string): Promise<string> =>
  kubectl(state, 'get', kind, name, '-n', NS, '-o', `jsonpath={${path}}`);
const exec = (state: ClusterState, pod: string, script: string): Promise<string> =>
  kubectl(state, 'exec', '-n', NS, pod, '--', 'node', '-e', script);
const listing = `const fs = require('fs'); const walk = (d) => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => e.isDirectory() ? walk(d + '/' + e.name) : [d + '/' + e.name]); console.log(walk('/data').sort().join('\\n'))`;

step(
  '1. Two sites on this machine',
  'Each a whole single-node cluster (control plane, containerd, kubelet, kube-proxy) in a network namespace of its own. The only path between them is a WAN link this machine controls.',
);
const [east, west] = (await startSites(parseSites('east,west'), {
  detached: true,
  log: (line) => console.log(`   ${line}`),
})) as [ClusterState, ClusterState];
for (const state of [east, west])
  console.log(`${state.site.name}: ${state.apiServerUrl}, pods in ${state.site.network.podSubnet}`);

step(
  '2. helm install at each site',
  'The same chart and image; each site’s StorageClass binds volumes to its DataFlow.',
);
await installChart(east, siteValues(east, SOURCE_FLOW));
await installChart(west, siteValues(west, REPLICA_FLOW));
await show(west, 'get', 'pods', '-n', 'kmesh-system');

step(
  '3. Site certificates from one CA',
  '`kmesh certs ca`, then `kmesh certs site east|west`: a kubernetes.io/tls Secret per site. Both sites also get the same chunk key.',
);
const certDir = mkdtempSync(join(tmpdir(), 'kmesh-demo-certs-'));
await createSiteSecrets([east, west], certDir);
await show(east, 'get', 'secrets', '-n', NS);

step(
  '4. A KmeshInstance per site; west’s gateway on a NodePort',
  'West’s status shows the address other sites use: its node’s address and the node port.',
);
await kubectlApply(west, siteInstance(west, true));
await kubectlApply(east, siteInstance(east, false));
await until(
  'west’s gateway endpoint',
  async () => (await jsonpath(west, 'kmeshinstance', 'west', '.status.gatewayEndpoint')) !== '',
);
const endpoint = await jsonpath(west, 'kmeshinstance', 'west', '.status.gatewayEndpoint');
await show(west, 'get', 'kmeshinstance', 'west', '-n', NS, '-o', 'wide');
console.log(`west's gateway: ${endpoint}`);

step(
  '5. The DataFlows',
  `At east, "${SOURCE_FLOW}" pushes ${SHARED_SUBTREE} to west; at west, "${REPLICA_FLOW}" accepts it (and deletes its copy when its last volume goes).`,
);
await kubectlApply(west, replicaDataFlow(east, west));
await kubectlApply(east, sourceDataFlow(east, west, endpoint));
await show(east, 'get', 'dataflow', SOURCE_FLOW, '-n', NS, '-o', 'jsonpath={.spec.peers}');
console.log();

step('6. An app at east writes; a pod at west reads', 'Each through a PVC of its own site’s StorageClass.');
await kubectlApply(east, siteClaim());
await kubectlApply(west, siteClaim());
await kubectlApply(east, nodePod('app', 'console.log("up")', SITE_PVC, NS));
await kubectlApply(west, nodePod('reader', 'console.log("up")', SITE_PVC, NS));
const running = (state: ClusterState, pod: string) => async (): Promise<boolean> =>
  (await jsonpath(state, 'pod', pod, '.status.phase')) === 'Running';
await until('the app at east', running(east, 'app'));
await until('the reader at west', running(west, 'reader'));
await exec(
  east,
  'app',
  `const fs = require('fs'); fs.mkdirSync('/data${SHARED_SUBTREE}/reports', { recursive: true }); fs.writeFileSync('/data${SHARED_SUBTREE}/reports/q4.txt', 'written at east'); fs.mkdirSync('/data/private', { recursive: true }); fs.writeFileSync('/data/private/keys', 'east only')`,
);
await until('the file at west', async () => (await exec(west, 'reader', listing)).includes('q4.txt'));
const peersConnected = (): Promise<string> =>
  jsonpath(east, 'dataflow', SOURCE_FLOW, '.status.conditions[?(@.type=="PeersConnected")].status');
// The status follows the worker's report: the first passes may have found west's gateway not yet
// serving the DataFlow (its configuration reaches the pod within a minute).
await until('east to report west connected', async () => (await peersConnected()) === 'True');
console.log('at east:\n' + (await exec(east, 'app', listing)));
console.log('at west (only the shared subtree):\n' + (await exec(west, 'reader', listing)));
await show(east, 'get', 'dataflow', SOURCE_FLOW, '-n', NS, '-o', 'jsonpath={.status.peers}');
console.log();

step('7. The link is cut', 'East keeps serving writes, west keeps serving reads; east reports the peer down.');
await setLink(east.site, { state: 'cut' });
const duringCut = `during-cut-${new Date().toISOString().replace(/[:.]/g, '-')}.txt`; // new on every run
await exec(
  east,
  'app',
  `require('fs').writeFileSync('/data${SHARED_SUBTREE}/reports/${duringCut}', 'written while cut')`,
);
await until('east to see the peer down', async () => (await peersConnected()) === 'False');
await show(
  east,
  'get',
  'dataflow',
  SOURCE_FLOW,
  '-n',
  NS,
  '-o',
  'jsonpath={.status.conditions[?(@.type=="PeersConnected")]}',
);
console.log();
await show(east, 'get', 'events', '-n', NS, '--field-selector', `involvedObject.name=${SOURCE_FLOW}`);

step('8. The link returns', 'No one does anything: the next pass delivers what west missed.');
await setLink(east.site, { state: 'up' });
await until('the change to reach west', async () => (await exec(west, 'reader', listing)).includes(duringCut));
console.log('at west:\n' + (await exec(west, 'reader', listing)));

step(
  'Done',
  [
    'Everything keeps running. Explore it with:',
    `  KUBECONFIG=${east.kubeconfigPath} hack/bin/kubectl get kmesh -A`,
    `  KUBECONFIG=${west.kubeconfigPath} hack/bin/kubectl get kmesh -A`,
    '  npm run cluster:link -- east cut|up|shaped      # the WAN link',
    'Stop both sites: npm run cluster:down',
  ].join('\n'),
);
