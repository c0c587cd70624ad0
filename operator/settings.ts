/** Settings of the operator process that its controllers use (from flags and environment). */
export interface OperatorSettings {
  /** The Kmesh image; the gateway and sync workers run it. */
  image: string;
  /** Image with the Lustre server tools (mkfs.lustre, tunefs.lustre, lctl); empty: Lustre instances wait for it. */
  lustreImage: string;
  /** The user Kmesh pods run as (non-root). */
  runAsUser: number;
  /** Port of the sync workers' /status, /metrics and health endpoints. */
  workerStatusPort: number;
  /** Port of the gateways' /capacity, /metrics and health endpoints. */
  gatewayHealthPort: number;
  /** How often a sync worker scans for changes (async mode), e.g. 10s. */
  syncInterval: string;
  /**
   * Host directories below which local instances may keep their data (the chart's localRoots);
   * any other spec.backend.local.path is refused (api/v1alpha1/paths.ts, docs/security.md).
   */
  localRoots: string[];
  /** Namespace of the CSI driver, where its nodes report publications (kmesh-publications-<node>). */
  csiNamespace: string;
  /** The Kmesh CSI driver, whose inline volumes give Kmesh's own pods their instance's filesystem. */
  csiDriverName: string;
}
