/**
 * The configuration document of `kmesh gateway`, the receiving side of one KmeshInstance: what
 * the operator renders into the gateway's ConfigMap (operator/controllers/kmesh-instance/gateway.ts
 * returns a `GatewayConfigDocument`) and what the gateway reads (sync/config.ts
 * `parseGatewayConfig`). Declared once; enums and defaults come from api/v1alpha1.
 */
import { z } from 'zod';
import { DEFAULT_DELETED_RETENTION } from '../v1alpha1/data-flow.js';
import { GATEWAY_PORT } from '../v1alpha1/kmesh-instance.js';
import { durationMs, encryption, namespacedName, port, text } from './fields.js';
import { peerDirection, subtree } from './worker.js';

/** Port of the gateway's /capacity, /metrics and health endpoints when the document does not say. */
const DEFAULT_GATEWAY_METRICS_PORT = 8080;

/**
 * The file, in the worker's stateDir, where the worker publishes the manifest of the version it
 * last scanned, and which the gateway serves to peers that read it (`publishedFile`).
 */
export const PUBLISHED_FILE_NAME = 'published.json';

const servedDataFlow = z.strictObject({
  /** `<namespace>/<name>` of the DataFlow. */
  name: namespacedName(),
  treeDir: text(),
  stateDir: text(),
  /** How long deleted files stay in the quarantine. */
  deletedRetention: durationMs().prefault(DEFAULT_DELETED_RETENTION),
  /**
   * Sites that may talk to this DataFlow: certificate identity and direction, as in spec.peers; a
   * peer with `paths` reads only those subtrees of the published version.
   */
  peers: z
    .array(z.strictObject({ name: text(), direction: peerDirection(), paths: z.array(subtree).optional() }))
    .default([]),
  encryption: encryption().prefault({}),
  /**
   * The version this site's worker publishes (`<worker stateDir>/published.json`), served to peers
   * this site sends to when they read it; unset: nothing to read.
   */
  publishedFile: text().optional(),
});

export const gatewayConfigSchema = z.strictObject({
  host: text().default('0.0.0.0'),
  port: port().default(GATEWAY_PORT),
  /** Directory of the instance's TLS Secret (tls.crt, tls.key, ca.crt). */
  tlsDir: text(),
  metricsPort: port().default(DEFAULT_GATEWAY_METRICS_PORT),
  /** The instance's filesystem, whose capacity /capacity reports; unset: no report. */
  filesystem: text().optional(),
  dataFlows: z.array(servedDataFlow).default([]),
});

/** The gateway config as the operator renders it (the YAML document; defaulted fields may be left out). */
export type GatewayConfigDocument = z.input<typeof gatewayConfigSchema>;
/** The gateway config as read: defaults filled in, `deletedRetention` in ms. */
export type GatewayConfigFields = z.output<typeof gatewayConfigSchema>;
export type ServedDataFlowDocument = z.input<typeof servedDataFlow>;
