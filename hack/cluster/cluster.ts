/**
 * A real single-node Kubernetes cluster on this machine: the control plane (etcd, kube-apiserver,
 * kube-controller-manager, kube-scheduler), containerd + runc + the CNI bridge, the kubelet and
 * kube-proxy, with the Kmesh images built and loaded. Needs root. Everything lives under one root
 * directory (`cluster.json` there records it), pods only get addresses on a bridge inside the
 * machine, and `stopCluster` leaves nothing behind: processes, pods, mounts, cgroups, the bridge and
 * kube-proxy's rules. A `ClusterSite` says what sets one cluster apart from another: the default is
 * the single-node cluster in this machine's network; sites.ts starts several, each in a network
 * namespace of its own.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { kubeconfigCredentials } from '../../lib/kube/kubeconfig.js';
import { KubeClient } from '../../lib/kube/rest.js';
import { readState as readControlPlane, startControlPlane, stopControlPlane } from '../control-plane/control-plane.js';
import { renderKubeconfig } from '../control-plane/kubeconfig.js';
import {
  freePorts,
  isRunning,
  logTail,
  startProcess,
  stopProcess,
  waitHealthy,
  type ProcessRecord,
} from '../control-plane/process.js';
import { buildImages, imageRef, loadImages, type BuiltImage } from '../images/images.js';
import { toolPath, type Tool } from '../tools.js';
import { createCgroupRoot, killPods } from './cgroups.js';
import { deleteTasks, killShims, makeSharedMount, removeKubeChains, unmountAll } from './cleanup.js';
import {
  cniConfig,
  createPodNetwork,
  podNetworkExists,
  removePodNetwork,
  SINGLE_NODE_NETWORK,
  type NodeNetwork,
} from './network.js';
import { containerdConfig, kubeletConfig, kubeProxyConfig, localAddress, NodeLayout } from './node.js';

const run = promisify(execFile);

const NODE_READY_TIMEOUT_MS = 180_000;
const STARTUP_TIMEOUT_MS = 60_000;

/** What sets one cluster of this machine apart from another. */
export interface ClusterSite {
  /** `kmesh` for the single-node cluster, else the site's name (east, west). */
  name: string;
  /** Directory holding everything of the cluster. */
  root: string;
  nodeName: string;
  /** The node's topology labels, as a cloud provider sets them; the CSI node plugin reports them. */
  location: { region: string; zone: string };
  network: NodeNetwork;
  /** The kubelet's cgroupRoot (`/`: the machine's). */
  cgroupRoot: string;
}

/** The single-node cluster's root: one at a time per machine (its bridge and subnet are fixed). */
export function clusterRoot(): string {
  return process.env['KMESH_CLUSTER_DIR'] ?? join(tmpdir(), 'kmesh-cluster');
}

/** The single-node cluster (`npm run cluster:up`). */
export function singleNodeSite(): ClusterSite {
  return {
    name: 'kmesh',
    root: clusterRoot(),
    nodeName: 'kmesh-node',
    location: { region: 'lab', zone: 'lab-a' },
    network: SINGLE_NODE_NETWORK,
    cgroupRoot: '/',
  };
}

export interface ClusterTimings {
  controlPlaneReadyMs: number;
  nodeReadyMs: number;
  /** Building (or finding cached) and loading the images, after the node is Ready. */
  imagesMs: number;
  totalMs: number;
}

export interface ClusterState {
  site: ClusterSite;
  root: string;
  kubeconfigPath: string;
  apiServerUrl: string;
  nodeName: string;
  /** The node's processes (the control plane records its own under control-plane/). */
  processes: ProcessRecord[];
  previousIpForward?: string;
  images: BuiltImage[];
  timings?: ClusterTimings;
}

const stateFile = (root: string): string => join(root, 'cluster.json');
const controlPlaneDir = (root: string): string => join(root, 'control-plane');

export function readClusterState(root = clusterRoot()): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(root), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

function saveState(state: ClusterState): void {
  writeFileSync(stateFile(state.root), JSON.stringify(state, null, 2));
}

/** True when every process of the recorded cluster, control plane included, still runs. */
export function isClusterUp(state: ClusterState | undefined): state is ClusterState {
  const plane = state && readControlPlane(controlPlaneDir(state.root));
  return (
    state?.timings !== undefined && plane !== undefined && [...plane.processes, ...state.processes].every(isRunning)
  );
}

export interface StartClusterOptions {
  /** Which cluster; default the single-node one. */
  site?: ClusterSite;
  /** Keep running after this process exits (`npm run cluster:up`). Default false. */
  detached?: boolean;
  log?: (line: string) => void;
}

async function waitNodeReady(
  client: KubeClient,
  nodeName: string,
  processes: ProcessRecord[],
  timeoutMs: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'not registered';
  while (Date.now() < deadline) {
    const dead = processes.find((p) => !isRunning(p));
    if (dead) throw new Error(`${dead.name} exited; its log ends:\n${logTail(dead)}`);
    const node = await client
      .request<{ status?: { conditions?: Array<{ type: string; status: string; message?: string }> } }>(
        'GET',
        `/api/v1/nodes/${nodeName}`,
      )
      .catch(() => undefined);
    const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
    if (ready?.status === 'True') return;
    if (ready) last = ready.message ?? ready.status;
    await sleep(250);
  }
  const kubelet = processes.find((p) => p.name === 'kubelet');
  throw new Error(
    `node ${nodeName} not Ready after ${timeoutMs} ms (last: ${last})${kubelet ? `; the kubelet's log ends:\n${logTail(kubelet)}` : ''}`,
  );
}

/** Starts the cluster (or returns the running one) once its node is Ready and the images are loaded. */
export async function startCluster(options: StartClusterOptions = {}): Promise<ClusterState> {
  const site = options.site ?? singleNodeSite();
  const { root, network } = site;
  const log = options.log ?? ((): void => undefined);
  const existing = readClusterState(root);
  if (isClusterUp(existing)) return refreshImages(existing, log);
  if (existing || podNetworkExists(network)) {
    log('cleaning up what a previous cluster left');
    await stopCluster(root, site);
  }
  const started = Date.now();
  const detached = options.detached ?? false;
  const layout = new NodeLayout(root);
  for (const dir of ['logs', 'containerd', 'cni/net.d', 'cni/ipam', 'kubelet', 'kmesh-data', 'pod-logs'])
    mkdirSync(layout.path(dir), { recursive: true });
  const state: ClusterState = {
    site,
    root,
    kubeconfigPath: '',
    apiServerUrl: '',
    nodeName: site.nodeName,
    processes: [],
    images: [],
  };
  saveState(state);
  const launch = (name: Tool | 'containerd', executable: string, args: string[]): ProcessRecord => {
    const record = startProcess({
      name,
      executable,
      args,
      logPath: layout.path('logs', `${name}.log`),
      detached,
      ...(network.netns ? { netns: network.netns } : {}),
    });
    state.processes.push(record);
    saveState(state);
    return record;
  };
  try {
    await makeSharedMount(root);
    const previousIpForward = await createPodNetwork(network);
    if (previousIpForward !== undefined) state.previousIpForward = previousIpForward;
    saveState(state);
    createCgroupRoot(site.cgroupRoot);

    log(`control plane starting on ${network.nodeAddress}`);
    const plane = await startControlPlane({
      workDir: controlPlaneDir(root),
      detached,
      node: { name: site.nodeName, address: network.nodeAddress, ...(network.netns ? { netns: network.netns } : {}) },
      log: (line) => log(`  ${line}`),
    });
    Object.assign(state, { kubeconfigPath: plane.kubeconfigPath, apiServerUrl: plane.apiServerUrl });
    saveState(state);
    const controlPlaneReadyMs = Date.now() - started;
    const pki = (name: string): string => join(plane.workDir, 'pki', name);

    log('containerd starting');
    writeFileSync(join(layout.cniConfDir, '10-kmesh.conflist'), cniConfig(network, layout.path('cni', 'ipam')));
    writeFileSync(layout.path('containerd', 'config.toml'), containerdConfig(layout, imageRef('pause')));
    const containerd = launch('containerd', '/usr/bin/containerd', [
      '--config',
      layout.path('containerd', 'config.toml'),
      '--log-level',
      'warn',
    ]);
    await waitContainerd(containerd, layout.containerdSocket);

    log('kubelet starting');
    const [kubeletPort, kubeletHealthz, proxyHealthz, proxyMetrics] = await freePorts(4);
    const kubeletKubeconfig = layout.path('kubelet.kubeconfig');
    writeFileSync(
      kubeletKubeconfig,
      renderKubeconfig({
        name: 'kmesh-e2e',
        server: plane.apiServerUrl,
        caPem: readFileSync(pki('ca.crt'), 'utf8'),
        certPem: readFileSync(pki('kubelet-client.crt'), 'utf8'),
        keyPem: readFileSync(pki('kubelet-client.key'), 'utf8'),
      }),
      { mode: 0o600 },
    );
    writeFileSync(
      layout.path('kubelet-config.yaml'),
      kubeletConfig(layout, pki, { kubelet: kubeletPort!, healthz: kubeletHealthz! }, site),
    );
    const kubelet = launch('kubelet', toolPath('kubelet'), [
      `--config=${layout.path('kubelet-config.yaml')}`,
      `--kubeconfig=${kubeletKubeconfig}`,
      `--root-dir=${layout.kubeletDir}`,
      `--hostname-override=${site.nodeName}`,
      `--node-ip=${network.nodeAddress}`,
      `--node-labels=topology.kubernetes.io/region=${site.location.region},topology.kubernetes.io/zone=${site.location.zone}`,
      '--v=1',
    ]);
    await waitHealthy(kubelet, `http://${localAddress(network)}:${kubeletHealthz}/healthz`, STARTUP_TIMEOUT_MS);

    log('kube-proxy starting');
    writeFileSync(
      layout.path('kube-proxy.yaml'),
      kubeProxyConfig(
        plane.kubeconfigPath,
        { name: site.nodeName, network },
        { healthz: proxyHealthz!, metrics: proxyMetrics! },
      ),
    );
    launch('kube-proxy', toolPath('kube-proxy'), [`--config=${layout.path('kube-proxy.yaml')}`, '--v=1']);

    const client = new KubeClient(kubeconfigCredentials(plane.kubeconfigPath));
    try {
      await waitNodeReady(client, site.nodeName, state.processes, NODE_READY_TIMEOUT_MS);
    } finally {
      client.close();
    }
    const nodeReadyMs = Date.now() - started;
    log(`node ${site.nodeName} Ready after ${(nodeReadyMs / 1000).toFixed(1)} s`);

    const imagesStarted = Date.now();
    state.images = await buildImages((line) => log(`  ${line}`));
    await loadImages(state.images, layout.containerdSocket);
    state.timings = {
      controlPlaneReadyMs,
      nodeReadyMs,
      imagesMs: Date.now() - imagesStarted,
      totalMs: Date.now() - started,
    };
    saveState(state);
    return state;
  } catch (error) {
    if (process.env['KMESH_KEEP_FAILED_CLUSTER']) throw error; // logs kept for a post-mortem; `down` cleans up
    await stopCluster(root, site).catch(() => undefined);
    throw error;
  }
}

/** A running cluster gets the images whose sources changed since it loaded them (running pods keep theirs). */
async function refreshImages(state: ClusterState, log: (line: string) => void): Promise<ClusterState> {
  const images = await buildImages((line) => log(`  ${line}`));
  const changed = images.filter((image) => !state.images.some((loaded) => loaded.archive === image.archive));
  if (changed.length > 0) await loadImages(changed, new NodeLayout(state.root).containerdSocket);
  const refreshed = { ...state, images };
  saveState(refreshed);
  return refreshed;
}

async function waitContainerd(record: ProcessRecord, socket: string): Promise<void> {
  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (!isRunning(record)) throw new Error(`containerd exited during startup; its log ends:\n${logTail(record)}`);
    const ok = await run('ctr', ['--address', socket, 'version'], { timeout: 5000 }).then(
      () => true,
      () => false,
    );
    if (ok) return;
    await sleep(200);
  }
  throw new Error(
    `containerd did not answer on ${socket} within ${STARTUP_TIMEOUT_MS} ms; its log ends:\n${logTail(record)}`,
  );
}

/**
 * Stops the cluster at `root` and removes everything it made. Idempotent, and works from whatever
 * a crashed or killed cluster left (`site` says what it was when no state file is left).
 */
export async function stopCluster(root = clusterRoot(), site = singleNodeSite()): Promise<void> {
  const state = readClusterState(root);
  const { network, cgroupRoot } = state?.site ?? site;
  const layout = new NodeLayout(root);
  const byName = (name: string): ProcessRecord[] => state?.processes.filter((p) => p.name === name) ?? [];
  // The kubelet first, so nothing restarts what follows stops.
  for (const record of byName('kubelet')) await stopProcess(record);
  if (byName('containerd').some(isRunning)) await deleteTasks(layout.containerdSocket);
  await killPods(cgroupRoot);
  killShims(layout.containerdSocket);
  for (const name of ['kube-proxy', 'containerd']) for (const record of byName(name)) await stopProcess(record);
  await stopControlPlane(controlPlaneDir(root));
  if (!network.netns) {
    // kube-proxy's Service rules stay in the machine's tables until removed (a namespace's go with it).
    await run(toolPath('kube-proxy'), ['--cleanup'], { timeout: 60_000 }).catch(() => undefined);
    await removeKubeChains();
  }
  await unmountAll(root);
  await removePodNetwork(network, state?.previousIpForward);
  rmSync(root, { recursive: true, force: true });
}
