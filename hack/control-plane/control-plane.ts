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
import { toolPath } from '../tools.js';
import { renderKubeconfig } from './kubeconfig.js';
import {
  freePort,
  isRunning,
  startProcess,
  stopProcess,
  waitHealthy,
  type ProcessRecord,
} from './process.js';

const STARTUP_TIMEOUT_MS = 60_000;
/** Service IPs are only allocated, never routed: no traffic goes to this range. */
const SERVICE_CLUSTER_IP_RANGE = '10.96.0.0/24';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

export interface ControlPlaneOptions {
  /** Directory to hold data, certificates and logs; a new temp directory when unset. */
  workDir?: string;
  /** Keep running after this process exits (a developer's cluster). Default false. */
  detached?: boolean;
  /** Start kube-controller-manager too. Default true. */
  controllerManager?: boolean;
  /** Progress lines, e.g. console.log. */
  log?: (line: string) => void;
}

/** How long each step of the startup took, in milliseconds since the start. */
export interface StartupTimings {
  etcdReadyMs: number;
  apiServerReadyMs: number;
  controllerManagerReadyMs?: number;
  totalMs: number;
}

/** What `state.json` records: enough to use and to stop the control plane. */
export interface ControlPlaneState {
  workDir: string;
  kubeconfigPath: string;
  apiServerUrl: string;
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

/** Starts the control plane and resolves once the API server answers /readyz. */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlaneState> {
  const started = Date.now();
  const log = options.log ?? ((): void => undefined);
  const workDir = options.workDir ?? mkdtempSync(join(tmpdir(), 'kmesh-cp-'));
  const detached = options.detached ?? false;
  for (const dir of ['pki', 'logs', 'etcd']) mkdirSync(join(workDir, dir), { recursive: true });
  const file = (...parts: string[]): string => join(workDir, ...parts);
  const processes: ProcessRecord[] = [];
  const saveState = (state: Omit<ControlPlaneState, 'workDir'>): ControlPlaneState => {
    const full = { workDir, ...state };
    writeFileSync(stateFile(workDir), JSON.stringify(full, null, 2));
    return full;
  };

  try {
    // Certificates: one CA for serving and client certificates, plus the service-account key pair.
    const ca = await CertificateAuthority.create('kmesh-test-ca');
    const serving = await ca.issue({
      commonName: 'kube-apiserver',
      usage: 'server',
      dnsNames: ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc'],
      ipAddresses: ['127.0.0.1', '10.96.0.1'],
    });
    const admin = await ca.issue({ commonName: 'kmesh-admin', organizations: ['system:masters'], usage: 'client' });
    const sa = generateKeyPairSync('ec', {
      namedCurve: 'prime256v1',
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    writeFileSync(file('pki', 'ca.crt'), ca.certPem);
    writeFileSync(file('pki', 'ca.key'), await ca.keyPem(), { mode: 0o600 });
    writeFileSync(file('pki', 'apiserver.crt'), serving.certPem);
    writeFileSync(file('pki', 'apiserver.key'), serving.keyPem, { mode: 0o600 });
    writeFileSync(file('pki', 'sa.pub'), sa.publicKey);
    writeFileSync(file('pki', 'sa.key'), sa.privateKey, { mode: 0o600 });

    const [etcdClientPort, etcdPeerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
    const apiServerUrl = `https://127.0.0.1:${apiPort}`;
    const kubeconfigPath = file('admin.kubeconfig');
    writeFileSync(
      kubeconfigPath,
      renderKubeconfig({ name: 'kmesh-test', server: apiServerUrl, caPem: ca.certPem, certPem: admin.certPem, keyPem: admin.keyPem }),
      { mode: 0o600 },
    );
    const timings: StartupTimings = { etcdReadyMs: 0, apiServerReadyMs: 0, totalMs: 0 };
    const record = (): ControlPlaneState => saveState({ kubeconfigPath, apiServerUrl, processes, timings });

    // etcd: fsync off, since test data need not survive a power cut and fsync dominates its latency.
    const etcdClient = `http://127.0.0.1:${etcdClientPort}`;
    const etcdPeer = `http://127.0.0.1:${etcdPeerPort}`;
    const etcd = startProcess({
      name: 'etcd',
      executable: toolPath('etcd'),
      args: [
        '--name=kmesh-test',
        `--data-dir=${file('etcd')}`,
        `--listen-client-urls=${etcdClient}`,
        `--advertise-client-urls=${etcdClient}`,
        `--listen-peer-urls=${etcdPeer}`,
        `--initial-advertise-peer-urls=${etcdPeer}`,
        `--initial-cluster=kmesh-test=${etcdPeer}`,
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      logPath: file('logs', 'etcd.log'),
      detached,
    });
    processes.push(etcd);
    record();
    log(`etcd starting on ${etcdClient}`);
    await waitHealthy(etcd, `${etcdClient}/health`, STARTUP_TIMEOUT_MS);
    timings.etcdReadyMs = Date.now() - started;

    const apiServer = startProcess({
      name: 'kube-apiserver',
      executable: toolPath('kube-apiserver'),
      args: [
        `--etcd-servers=${etcdClient}`,
        '--bind-address=127.0.0.1',
        '--advertise-address=127.0.0.1',
        `--secure-port=${apiPort}`,
        `--cert-dir=${file('pki')}`,
        `--tls-cert-file=${file('pki', 'apiserver.crt')}`,
        `--tls-private-key-file=${file('pki', 'apiserver.key')}`,
        `--client-ca-file=${file('pki', 'ca.crt')}`,
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${file('pki', 'sa.pub')}`,
        `--service-account-signing-key-file=${file('pki', 'sa.key')}`,
        `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
        '--authorization-mode=RBAC',
        // The kubernetes Service cannot point at a loopback address; nothing here needs it.
        '--endpoint-reconciler-type=none',
        '--allow-privileged=true',
        '--profiling=false',
        '--v=1',
      ],
      logPath: file('logs', 'kube-apiserver.log'),
      detached,
    });
    processes.push(apiServer);
    record();
    log(`kube-apiserver starting on ${apiServerUrl}`);
    await waitHealthy(apiServer, `${apiServerUrl}/readyz`, STARTUP_TIMEOUT_MS, {
      ca: ca.certPem,
      cert: admin.certPem,
      key: admin.keyPem,
    });
    timings.apiServerReadyMs = Date.now() - started;

    if (options.controllerManager ?? true) {
      const kcmPort = await freePort();
      const kcm = startProcess({
        name: 'kube-controller-manager',
        executable: toolPath('kube-controller-manager'),
        args: [
          `--kubeconfig=${kubeconfigPath}`,
          `--authentication-kubeconfig=${kubeconfigPath}`,
          `--authorization-kubeconfig=${kubeconfigPath}`,
          '--bind-address=127.0.0.1',
          `--secure-port=${kcmPort}`,
          `--cert-dir=${file('pki', 'kcm')}`,
          `--service-account-private-key-file=${file('pki', 'sa.key')}`,
          `--root-ca-file=${file('pki', 'ca.crt')}`,
          `--cluster-signing-cert-file=${file('pki', 'ca.crt')}`,
          `--cluster-signing-key-file=${file('pki', 'ca.key')}`,
          `--service-cluster-ip-range=${SERVICE_CLUSTER_IP_RANGE}`,
          '--leader-elect=false',
          '--profiling=false',
          '--v=1',
        ],
        logPath: file('logs', 'kube-controller-manager.log'),
        detached,
      });
      processes.push(kcm);
      record();
      log('kube-controller-manager starting');
      await waitHealthy(kcm, `https://127.0.0.1:${kcmPort}/healthz`, STARTUP_TIMEOUT_MS, { insecure: true });
      timings.controllerManagerReadyMs = Date.now() - started;
    }
    timings.totalMs = Date.now() - started;
    return record();
  } catch (error) {
    await stopProcesses(processes);
    // KMESH_KEEP_FAILED_CONTROL_PLANE=1 keeps the logs of a failed start for a post-mortem.
    if (!process.env['KMESH_KEEP_FAILED_CONTROL_PLANE']) rmSync(workDir, { recursive: true, force: true });
    throw error;
  }
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
