/**
 * The operator's configuration, from command-line flags (lib/flags.ts) with environment variables
 * as defaults. A bad value ends the process with a message naming the flag.
 */
import { DEFAULT_SYNC_INTERVAL, DEFAULT_WORKER_STATUS_PORT } from '../api/sync-config/worker.js';
import { hostname } from 'node:os';
import { parseLocalRoots } from '../api/v1alpha1/paths.js';
import { parseDuration } from '../lib/duration.js';
import { booleanFlag, integerFlag, parseFlags, UsageError, type FlagSpecs, type ParsedFlags } from '../lib/flags.js';
import type { OperatorSettings } from './settings.js';

export interface OperatorConfig {
  settings: OperatorSettings;
  /** Kubeconfig file; unset: in-cluster service account, or $KUBECONFIG, or ~/.kube/config. */
  kubeconfig?: string;
  /** Reconcile only this namespace; all namespaces when unset. */
  watchNamespace?: string;
  /** Port of /metrics, /healthz and /readyz (0: any free port). */
  healthPort: number;
  leaderElection: {
    enabled: boolean;
    namespace: string;
    name: string;
    identity: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
  };
  workers: number;
  /** Server-side watch timeout of the informers. */
  watchTimeoutSeconds: number;
  resyncMs: number;
  /** Act as this user (tests run the operator as its ServiceAccount this way). */
  impersonate?: string;
}

export const FLAGS = {
  kubeconfig: { env: 'KUBECONFIG', help: 'kubeconfig file (default: in-cluster)' },
  'watch-namespace': { env: 'KMESH_WATCH_NAMESPACE', help: 'reconcile only this namespace' },
  image: { env: 'KMESH_IMAGE', default: 'ghcr.io/kmesh/kmesh:latest', help: 'Kmesh image for gateways and workers' },
  'lustre-image': { env: 'KMESH_LUSTRE_IMAGE', default: '', help: 'image with the Lustre server tools' },
  'run-as-user': { env: 'KMESH_RUN_AS_USER', default: '65532', help: 'non-root user id of Kmesh pods' },
  'worker-status-port': {
    env: 'KMESH_WORKER_STATUS_PORT',
    default: String(DEFAULT_WORKER_STATUS_PORT),
    help: "port of the sync workers' /status and health endpoints",
  },
  'gateway-health-port': {
    env: 'KMESH_GATEWAY_HEALTH_PORT',
    default: '8081',
    help: "port of the gateways' /capacity and health endpoints",
  },
  'sync-interval': {
    env: 'KMESH_SYNC_INTERVAL',
    default: DEFAULT_SYNC_INTERVAL,
    help: 'how often sync workers scan for changes (async mode)',
  },
  'local-roots': {
    env: 'KMESH_LOCAL_ROOTS',
    default: '/var/lib/kmesh',
    help: 'comma-separated host directories below which local instances may keep their data',
  },
  'csi-namespace': {
    env: 'POD_NAMESPACE',
    default: 'kmesh-system',
    help: 'namespace where CSI nodes report publications',
  },
  'csi-driver-name': {
    env: 'KMESH_CSI_DRIVER_NAME',
    default: 'csi.kmesh.io',
    help: "the Kmesh CSI driver, which mounts instance filesystems into Kmesh's own pods",
  },
  'health-port': { env: 'KMESH_HEALTH_PORT', default: '8081', help: 'port of /metrics, /healthz and /readyz' },
  'leader-elect': { env: 'KMESH_LEADER_ELECT', default: 'true', help: 'run leader election (true|false)' },
  'leader-election-namespace': { env: 'POD_NAMESPACE', default: 'kmesh-system', help: 'namespace of the leader Lease' },
  'leader-election-id': {
    env: 'KMESH_LEADER_ELECTION_ID',
    default: 'kmesh-operator',
    help: 'name of the leader Lease',
  },
  identity: { env: 'POD_NAME', help: 'this process in the Lease (default: host name and pid)' },
  'lease-duration': { env: 'KMESH_LEASE_DURATION_MS', default: '15000', help: 'lease duration, ms' },
  'renew-deadline': { env: 'KMESH_RENEW_DEADLINE_MS', default: '10000', help: 'renew deadline, ms' },
  'retry-period': { env: 'KMESH_RETRY_PERIOD_MS', default: '2000', help: 'retry period, ms' },
  workers: { env: 'KMESH_WORKERS', default: '4', help: 'parallel reconciles per controller' },
  'watch-timeout': { env: 'KMESH_WATCH_TIMEOUT_SECONDS', default: '300', help: 'server-side watch timeout, seconds' },
  resync: { env: 'KMESH_RESYNC_MS', default: '600000', help: 'periodic resync, ms' },
  impersonate: {
    env: 'KMESH_IMPERSONATE',
    help: 'act as this user (e.g. system:serviceaccount:kmesh-system:kmesh-operator)',
  },
} satisfies FlagSpecs;

/** What `read` returns; its error (which names the flag) becomes a UsageError. */
function usage<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function durationFlag(flag: string, text: string): string {
  usage(() => parseDuration(text, `--${flag}`));
  return text;
}

/** Parses `argv` (after the subcommand) with `env` as fallback. */
export function parseOperatorConfig(argv: readonly string[], env: NodeJS.ProcessEnv): OperatorConfig {
  return operatorConfig(parseFlags(FLAGS, argv, { env }));
}

/** The configuration the parsed flags describe; throws UsageError naming the flag. */
export function operatorConfig(flags: ParsedFlags<typeof FLAGS>): OperatorConfig {
  const value = flags.value;
  const image = value('image') ?? '';
  if (!image) throw new UsageError('--image: must not be empty');
  const leaseDurationMs = integerFlag('lease-duration', value('lease-duration'), 1000, 600_000);
  const renewDeadlineMs = integerFlag('renew-deadline', value('renew-deadline'), 500, 600_000);
  if (renewDeadlineMs >= leaseDurationMs)
    throw new UsageError(`--renew-deadline: ${renewDeadlineMs} must be less than --lease-duration ${leaseDurationMs}`);
  return {
    settings: {
      image,
      lustreImage: value('lustre-image') ?? '',
      runAsUser: integerFlag('run-as-user', value('run-as-user'), 1, 2 ** 31 - 1),
      workerStatusPort: integerFlag('worker-status-port', value('worker-status-port'), 1, 65535),
      gatewayHealthPort: integerFlag('gateway-health-port', value('gateway-health-port'), 1, 65535),
      syncInterval: durationFlag('sync-interval', value('sync-interval')!),
      localRoots: usage(() => parseLocalRoots('local-roots', value('local-roots')!)),
      csiNamespace: value('csi-namespace')!,
      csiDriverName: value('csi-driver-name')!,
    },
    ...(value('kubeconfig') ? { kubeconfig: value('kubeconfig') } : {}),
    ...(value('watch-namespace') ? { watchNamespace: value('watch-namespace') } : {}),
    healthPort: integerFlag('health-port', value('health-port'), 0, 65535),
    leaderElection: {
      enabled: booleanFlag('leader-elect', value('leader-elect')),
      namespace: value('leader-election-namespace')!,
      name: value('leader-election-id')!,
      identity: value('identity') ?? `${hostname()}-${process.pid}`,
      leaseDurationMs,
      renewDeadlineMs,
      retryPeriodMs: integerFlag('retry-period', value('retry-period'), 100, 60_000),
    },
    workers: integerFlag('workers', value('workers'), 1, 64),
    watchTimeoutSeconds: integerFlag('watch-timeout', value('watch-timeout'), 1, 3600),
    resyncMs: integerFlag('resync', value('resync'), 1000, 24 * 3_600_000),
    ...(value('impersonate') ? { impersonate: value('impersonate') } : {}),
  };
}
