/**
 * A real Kubernetes control plane on loopback: etcd, kube-apiserver and kube-controller-manager
 * (for garbage collection and namespace deletion), with their own CA, serving certificates,
 * service-account keys and an admin kubeconfig. Everything lives in one work directory, recorded in
 * `state.json` there, so the process that stops it need not be the one that started it.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CertificateAuthority } from '../pki.js';
import { toolPath, type Tool } from '../tools.js';
import { renderKubeconfig } from './kubeconfig.js';
import { freePorts, isRunning, startProcess, stopProcess, waitHealthy, type ProcessRecord } from './process.js';

const STARTUP_TIMEOUT_MS = 60_000;
/** Service IPs are only allocated, never routed: no traffic goes to this range. */
const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/16';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** kube-controller-manager controllers that manage pods for workloads; off in this control plane. */
const WORKLOAD_CONTROLLERS = [
  'deployment-controller',
  'replicaset-controller',
  'statefulset-controller',
  'daemonset-controller',
  'job-controller',
  'cronjob-controller',
];

/** The one node of a hack/cluster cluster: its name and the address everything listens on. */
export interface NodeIdentity {
  name: string;
  address: string;
  /**
   * The network namespace the node lives in (a site of a multi-site bed). The control plane runs
   * there too, and what would listen on loopback listens on `address`, where this machine reaches it.
   */
  netns?: string;
}

export interface ControlPlaneOptions {
  /** Directory to hold data, certificates and logs; a new temp directory when unset. */
  workDir?: string;
  /** Keep running after this process exits (a developer's cluster). Default false. */
  detached?: boolean;
  /** Start kube-controller-manager too. Default true. */
  controllerManager?: boolean;
  /**
   * Serve a real node (hack/cluster): kube-apiserver listens and advertises on this address (the
   * pod bridge's, so pods reach it through the kubernetes Service), the Node authorizer is on, every
   * controller runs and kube-scheduler starts. Default: no node, loopback only.
   */
  node?: NodeIdentity;
  /** Extra kube-apiserver flags (e.g. --watch-cache=false to serve watches from etcd). */
  extraApiServerArgs?: string[];
  /** Progress lines, e.g. console.log. */
  log?: (line: string) => void;
}

/** How long each step of the startup took, in milliseconds since the start. */
export interface StartupTimings {
  etcdReadyMs: number;
  apiServerReadyMs: number;
  controllerManagerReadyMs?: number;
  schedulerReadyMs?: number;
  totalMs: number;
}

/** What `state.json` records: enough to use and to stop the control plane. */
export interface ControlPlaneState {
  workDir: string;
  kubeconfigPath: string;
  apiServerUrl: string;
  /** etcd's client URL (plain HTTP on loopback). */
  etcdUrl: string;
  processes: ProcessRecord[];
  timings: StartupTimings;
}

const stateFile = (workDir: string): string => join(workDir, 'state.json');

/** Reads the state of a control plane started in `workDir`, or undefined if there is none. */
export function readState(workDir: string): ControlPlaneState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(workDir), 'utf8')) as ControlPlaneState;
  } catch {
    return undefined;
  }
}

/** Where a control plane's files live; every path is inside `workDir`. */
class Layout {
  constructor(readonly workDir: string) {}
  path(...parts: string[]): string {
    return join(this.workDir, ...parts);
  }
  get kubeconfig(): string {
    return this.path('admin.kubeconfig');
  }
  pki(name: string): string {
    return this.path('pki', name);
  }
  log(component: string): string {
    return this.path('logs', `${component}.log`);
  }
}

/** Credentials the components and the admin use, written under pki/; returns the admin's. */
async function writePki(
  layout: Layout,
  node?: NodeIdentity,
): Promise<{ caPem: string; certPem: string; keyPem: string }> {
  const ca = await CertificateAuthority.create('kmesh-test-ca');
  const serving = await ca.issue({
    commonName: 'kube-apiserver',
    usage: 'server',
    dnsNames: [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
    ipAddresses: ['127.0.0.1', '10.96.0.1', ...(node ? [node.address] : [])],
  });
  const admin = await ca.issue({ commonName: 'kmesh-admin', organizations: ['system:masters'], usage: 'client' });
  const serviceAccount = generateKeyPairSync('ec', {
    namedCurve: 'prime256v1',
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const secret = { mode: 0o600 };
  writeFileSync(layout.pki('ca.crt'), ca.certPem);
  writeFileSync(layout.pki('ca.key'), await ca.keyPem(), secret);
  writeFileSync(layout.pki('apiserver.crt'), serving.certPem);
  writeFileSync(layout.pki('apiserver.key'), serving.keyPem, secret);
  writeFileSync(layout.pki('sa.pub'), serviceAccount.publicKey);
  writeFileSync(layout.pki('sa.key'), serviceAccount.privateKey, secret);
  // kube-apiserver's client identity towards kubelets (logs, exec), and the admin's files for tools.
  writeFileSync(layout.pki('admin.crt'), admin.certPem);
  writeFileSync(layout.pki('admin.key'), admin.keyPem, secret);
  if (node) {
    // The kubelet's identity for the Node authorizer, and its serving certificate.
    const client = await ca.issue({
      commonName: `system:node:${node.name}`,
      organizations: ['system:nodes'],
      usage: 'client',
    });
    const serving = await ca.issue({
      commonName: node.name,
      usage: 'server',
      dnsNames: [node.name],
      ipAddresses: [node.address],
    });
    writeFileSync(layout.pki('kubelet-client.crt'), client.certPem);
    writeFileSync(layout.pki('kubelet-client.key'), client.keyPem, secret);
    writeFileSync(layout.pki('kubelet.crt'), serving.certPem);
    writeFileSync(layout.pki('kubelet.key'), serving.keyPem, secret);
  }
  return { caPem: ca.certPem, ...admin };
}

// etcd runs with fsync off: test data need not survive a power cut, and fsync dominates its latency.
function etcdArgs(layout: Layout, clientUrl: string, peerUrl: string): string[] {
  return [
    '--name=kmesh-test',
    `--data-dir=${layout.path('etcd')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=kmesh-test=${peerUrl}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ];
}

function apiServerArgs(layout: Layout, etcdUrl: string, port: number, node?: NodeIdentity): string[] {
  const withNode = node
    ? [
        '--authorization-mode=Node,RBAC',
        `--kubelet-client-certificate=${layout.pki('admin.crt')}`,
        `--kubelet-client-key=${layout.pki('admin.key')}`,
        '--kubelet-preferred-address-types=InternalIP',
      ]
    : [
        '--authorization-mode=RBAC',
        // The kubernetes Service cannot point at a loopback address; nothing here needs it.
        '--endpoint-reconciler-type=none',
      ];
  return [
    `--etcd-servers=${etcdUrl}`,
    `--bind-address=${node?.address ?? '127.0.0.1'}`,
    `--advertise-address=${node?.address ?? '127.0.0.1'}`,
    `--secure-port=${port}`,
    `--cert-dir=${layout.path('pki')}`,
    `--tls-cert-file=${layout.pki('apiserver.crt')}`,
    `--tls-private-key-file=${layout.pki('apiserver.key')}`,
    `--client-ca-file=${layout.pki('ca.crt')}`,
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${layout.pki('sa.pub')}`,
    `--service-account-signing-key-file=${layout.pki('sa.key')}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    ...withNode,
    '--allow-privileged=true',
    '--profiling=false',
    '--v=1',
  ];
}

/** What kube-controller-manager and kube-scheduler share: the admin's kubeconfig, a loopback health port, one instance. */
function clientComponentArgs(layout: Layout, port: number, local: string): string[] {
  return [
    `--kubeconfig=${layout.kubeconfig}`,
    `--authentication-kubeconfig=${layout.kubeconfig}`,
    `--authorization-kubeconfig=${layout.kubeconfig}`,
    `--bind-address=${local}`,
    `--secure-port=${port}`,
    '--leader-elect=false',
    '--profiling=false',
    '--v=1',
  ];
}

function controllerManagerArgs(layout: Layout, port: number, local: string, withNode: boolean): string[] {
  return [
    ...clientComponentArgs(layout, port, local),
    `--cert-dir=${layout.path('pki', 'kcm')}`,
    `--service-account-private-key-file=${layout.pki('sa.key')}`,
    `--root-ca-file=${layout.pki('ca.crt')}`,
    `--cluster-signing-cert-file=${layout.pki('ca.crt')}`,
    `--cluster-signing-key-file=${layout.pki('ca.key')}`,
    `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
    // Without a kubelet, tests play the workload controllers and kubelet by writing workload status,
    // which these controllers would overwrite. Garbage collection and namespace deletion stay.
    withNode ? '--controllers=*' : `--controllers=*,${WORKLOAD_CONTROLLERS.map((c) => `-${c}`).join(',')}`,
  ];
}

/** Starts the control plane and resolves once the API server answers /readyz. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlaneState> {
  const started = Date.now();
  const log = options.log ?? ((): void => undefined);
  const layout = new Layout(options.workDir ?? mkdtempSync(join(tmpdir(), 'kmesh-cp-')));
  const detached = options.detached ?? false;
  for (const dir of ['pki', 'logs', 'etcd']) mkdirSync(layout.path(dir), { recursive: true });
  const processes: ProcessRecord[] = [];
  const timings: StartupTimings = { etcdReadyMs: 0, apiServerReadyMs: 0, totalMs: 0 };
  const elapsed = (): number => Date.now() - started;

  try {
    const admin = await writePki(layout, options.node);
    const [etcdClientPort, etcdPeerPort, apiPort, kcmPort, schedulerPort] = await freePorts(5);
    const apiServerUrl = `https://${options.node?.address ?? '127.0.0.1'}:${apiPort}`;
    // Loopback, unless the node has a network namespace of its own: probes come from this one.
    const local = options.node?.netns ? options.node.address : '127.0.0.1';
    const etcdUrl = `http://${local}:${etcdClientPort}`;
    writeFileSync(layout.kubeconfig, renderKubeconfig({ name: 'kmesh-test', server: apiServerUrl, ...admin }), {
      mode: 0o600,
    });
    // Recorded after every start, so a failure at any point can still be cleaned up from the file.
    const launch = (name: Tool, args: string[]): ProcessRecord => {
      const record = startProcess({
        name,
        executable: toolPath(name),
        args,
        logPath: layout.log(name),
        detached,
        ...(options.node?.netns ? { netns: options.node.netns } : {}),
      });
      processes.push(record);
      saveState(layout.workDir, { kubeconfigPath: layout.kubeconfig, apiServerUrl, etcdUrl, processes, timings });
      return record;
    };

    log(`etcd starting on ${etcdUrl}`);
    const etcd = launch('etcd', etcdArgs(layout, etcdUrl, `http://${local}:${etcdPeerPort}`));
    await waitHealthy(etcd, `${etcdUrl}/health`, STARTUP_TIMEOUT_MS);
    timings.etcdReadyMs = elapsed();

    log(`kube-apiserver starting on ${apiServerUrl}`);
    const apiServer = launch('kube-apiserver', [
      ...apiServerArgs(layout, etcdUrl, apiPort!, options.node),
      ...(options.extraApiServerArgs ?? []),
    ]);
    await waitHealthy(apiServer, `${apiServerUrl}/readyz`, STARTUP_TIMEOUT_MS, {
      ca: admin.caPem,
      cert: admin.certPem,
      key: admin.keyPem,
    });
    timings.apiServerReadyMs = elapsed();

    if (options.controllerManager ?? true) {
      log('kube-controller-manager starting');
      const kcm = launch(
        'kube-controller-manager',
        controllerManagerArgs(layout, kcmPort!, local, options.node !== undefined),
      );
      // Its serving certificate is self-signed; the probe only asks whether it is up.
      await waitHealthy(kcm, `https://${local}:${kcmPort}/healthz`, STARTUP_TIMEOUT_MS, { insecure: true });
      timings.controllerManagerReadyMs = elapsed();
    }
    if (options.node) {
      log('kube-scheduler starting');
      const scheduler = launch('kube-scheduler', clientComponentArgs(layout, schedulerPort!, local));
      await waitHealthy(scheduler, `https://${local}:${schedulerPort}/healthz`, STARTUP_TIMEOUT_MS, {
        insecure: true,
      });
      timings.schedulerReadyMs = elapsed();
    }
    timings.totalMs = elapsed();
    return saveState(layout.workDir, { kubeconfigPath: layout.kubeconfig, apiServerUrl, etcdUrl, processes, timings });
  } catch (error) {
    await stopProcesses(processes);
    // KMESH_KEEP_FAILED_CONTROL_PLANE=1 keeps the logs of a failed start for a post-mortem.
    if (!process.env['KMESH_KEEP_FAILED_CONTROL_PLANE']) rmSync(layout.workDir, { recursive: true, force: true });
    throw error;
  }
}

function saveState(workDir: string, state: Omit<ControlPlaneState, 'workDir'>): ControlPlaneState {
  const full = { workDir, ...state };
  writeFileSync(stateFile(workDir), JSON.stringify(full, null, 2));
  return full;
}

async function stopProcesses(processes: ProcessRecord[]): Promise<void> {
  // Reverse start order: clients of the API server first, etcd last.
  for (const record of [...processes].reverse()) await stopProcess(record);
}

/** Stops every process of the control plane in `workDir` and removes the directory. Idempotent. */
export async function stopControlPlane(workDir: string): Promise<void> {
  const state = readState(workDir);
  if (state) await stopProcesses(state.processes);
  rmSync(workDir, { recursive: true, force: true });
}

/** Last-resort cleanup for an exiting process: SIGKILL and remove, synchronously. */
export function killControlPlaneSync(workDir: string): void {
  const state = readState(workDir);
  for (const record of state?.processes ?? []) {
    if (isRunning(record)) process.kill(record.pid, 'SIGKILL');
  }
  rmSync(workDir, { recursive: true, force: true });
}
