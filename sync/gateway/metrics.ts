/** Gateway metrics (kmesh_gateway_*): what arrived, what was committed, what was read, what was refused. */
import { Counter, Registry, collectDefaultMetrics } from 'prom-client';

export class GatewayMetrics {
  readonly registry = new Registry();
  readonly commits = new Counter({
    name: 'kmesh_gateway_commits_total',
    help: 'Versions committed per DataFlow.',
    labelNames: ['dataflow'] as const,
    registers: [this.registry],
  });
  readonly chunkBytes = new Counter({
    name: 'kmesh_gateway_received_bytes_total',
    help: 'Chunk bytes received and verified (plaintext) per DataFlow.',
    labelNames: ['dataflow'] as const,
    registers: [this.registry],
  });
  readonly wireBytes = new Counter({
    name: 'kmesh_gateway_wire_bytes_total',
    help: 'Bulk frame bytes received per DataFlow (compressed and sealed).',
    labelNames: ['dataflow'] as const,
    registers: [this.registry],
  });
  readonly servedBytes = new Counter({
    name: 'kmesh_gateway_served_bytes_total',
    help: 'Chunk bytes read by peers from the published version (plaintext) per DataFlow.',
    labelNames: ['dataflow'] as const,
    registers: [this.registry],
  });
  readonly rejectedStreams = new Counter({
    name: 'kmesh_gateway_rejected_streams_total',
    help: 'Bulk streams refused (bad chunk, wrong key, unknown session).',
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry });
  }
}
