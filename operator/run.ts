/**
 * The operator process: a client, metrics and health endpoints, leader election, and the
 * controllers, which run only while this process leads.
 */
import { setMaxListeners } from 'node:events';
import { startHealthServer, type HealthServer } from '../lib/health-server.js';
import { loggerFor } from '../lib/logging.js';
import { loadCredentials } from '../lib/kube/credentials.js';
import { KubeClient } from '../lib/kube/rest.js';
import { registerBackends } from './backends/index.js';
import type { OperatorConfig } from './config.js';
import { controllers } from './controllers/index.js';
import { Controller } from './runtime/controller.js';
import { EventRecorder } from './runtime/events.js';
import { SharedInformers } from './runtime/shared-informers.js';
import { LeaderElector } from './runtime/leader-election.js';
import { OperatorMetrics } from './runtime/metrics.js';

/** Groups the API server gives a ServiceAccount, needed to impersonate one faithfully. */
function impersonatedGroups(user: string): string[] {
  const match = /^system:serviceaccount:([^:]+):/.exec(user);
  return match
    ? ['system:serviceaccounts', `system:serviceaccounts:${match[1]}`, 'system:authenticated']
    : ['system:authenticated'];
}

/** What a running operator exposes (tests read it). */
export interface OperatorHandle {
  health: HealthServer;
  metrics: OperatorMetrics;
  /** Settles when the operator has stopped. */
  stopped: Promise<void>;
}

/** Starts the operator; it runs until `signal` aborts. */
export async function startOperator(config: OperatorConfig, signal: AbortSignal): Promise<OperatorHandle> {
  registerBackends();
  const log = loggerFor('operator', { identity: config.leaderElection.identity });
  const kc = await loadCredentials(config.kubeconfig);
  const metrics = new OperatorMetrics();
  const client = new KubeClient(kc, {
    ...(config.impersonate
      ? { impersonateUser: config.impersonate, impersonateGroups: impersonatedGroups(config.impersonate) }
      : {}),
    onResponse: (method, code) => metrics.requests.inc({ method, code: String(code) }),
  });
  const events = new EventRecorder(client, 'kmesh.io/operator', config.leaderElection.identity, log);
  const state = { leading: false, synced: false };
  const health = await startHealthServer({
    port: config.healthPort,
    registry: metrics.registry,
    // A standby is ready (it must not hold up a rollout); a leader once its caches are synced.
    ready: () => !state.leading || state.synced,
  });

  const reconcileWhileLeading = async (leadingSignal: AbortSignal): Promise<void> => {
    // Every informer and worker of every controller listens for the stop: many listeners by design.
    setMaxListeners(0, leadingSignal);
    const informers = new SharedInformers({
      client,
      log,
      ...(config.watchNamespace ? { namespace: config.watchNamespace } : {}),
      watchTimeoutSeconds: config.watchTimeoutSeconds,
    });
    const running = controllers(config.settings).map(
      (definition) =>
        new Controller(definition, {
          client,
          metrics,
          events,
          log,
          workers: config.workers,
          resyncMs: config.resyncMs,
          watchTimeoutSeconds: config.watchTimeoutSeconds,
          informers,
          ...(config.watchNamespace ? { namespace: config.watchNamespace } : {}),
        }),
    );
    void Promise.all(running.map((controller) => controller.synced())).then(() => (state.synced = true));
    await Promise.all(running.map((controller) => controller.run(leadingSignal)));
    state.synced = false;
  };

  const setLeading = (value: boolean): void => {
    state.leading = value;
    metrics.leader.set({ name: config.leaderElection.name }, value ? 1 : 0);
  };

  setLeading(false);
  log.info({ healthPort: health.port, leaderElection: config.leaderElection.enabled }, 'operator starting');
  const stopped = (async () => {
    try {
      if (config.leaderElection.enabled) {
        const { namespace, name, identity, leaseDurationMs, renewDeadlineMs, retryPeriodMs } = config.leaderElection;
        const elector = new LeaderElector({
          client,
          namespace,
          name,
          identity,
          log,
          leaseDurationMs,
          renewDeadlineMs,
          retryPeriodMs,
          onLeadershipChange: setLeading,
        });
        await elector.run(signal, reconcileWhileLeading);
      } else {
        setLeading(true);
        await reconcileWhileLeading(signal);
      }
    } finally {
      await health.close();
      client.close();
      log.info('operator stopped');
    }
  })();
  return { health, metrics, stopped };
}
