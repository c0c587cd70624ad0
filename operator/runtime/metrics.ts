/**
 * Operator metrics, named like controller-runtime's so existing dashboards and alerts work:
 * controller_runtime_reconcile_*, workqueue_*, leader_election_master_status, and client-go's
 * rest_client_requests_total.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { QueueObserver } from './queue.js';

export class OperatorMetrics {
  readonly registry = new Registry();
  private readonly reconcileTotal = new Counter({
    name: 'controller_runtime_reconcile_total',
    help: 'Total number of reconciliations per controller and result.',
    labelNames: ['controller', 'result'] as const,
    registers: [this.registry],
  });
  private readonly reconcileErrors = new Counter({
    name: 'controller_runtime_reconcile_errors_total',
    help: 'Total number of reconciliation errors per controller.',
    labelNames: ['controller'] as const,
    registers: [this.registry],
  });
  private readonly reconcileTime = new Histogram({
    name: 'controller_runtime_reconcile_time_seconds',
    help: 'Length of time per reconciliation per controller.',
    labelNames: ['controller'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });
  private readonly queueDepth = new Gauge({
    name: 'workqueue_depth',
    help: 'Current depth of the work queue.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private readonly queueAdds = new Counter({
    name: 'workqueue_adds_total',
    help: 'Total number of adds handled by the work queue.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private readonly queueRetries = new Counter({
    name: 'workqueue_retries_total',
    help: 'Total number of retries handled by the work queue.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });
  private readonly queueLatency = new Histogram({
    name: 'workqueue_queue_duration_seconds',
    help: 'How long in seconds an item stays in the work queue before being requested.',
    labelNames: ['name'] as const,
    buckets: [0.001, 0.01, 0.1, 0.5, 1, 5, 10, 60],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'leader_election_master_status',
    help: '1 while this process holds the leader lease, 0 otherwise.',
    labelNames: ['name'] as const,
    registers: [this.registry],
  });

  readonly requests = new Counter({
    name: 'rest_client_requests_total',
    help: 'Number of HTTP requests to the API server, by method and status code.',
    labelNames: ['method', 'code'] as const,
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }

  reconciled(controller: string, result: 'success' | 'error' | 'requeue_after', seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  /** Metrics hooks for the queue of `controller`. */
  queue(controller: string): QueueObserver {
    return {
      added: () => this.queueAdds.inc({ name: controller }),
      depth: (depth) => this.queueDepth.set({ name: controller }, depth),
      waited: (seconds) => this.queueLatency.observe({ name: controller }, seconds),
      retried: () => this.queueRetries.inc({ name: controller }),
    };
  }
}
