/**
 * Where a node is, for NodeGetInfo's topology: the --region/--zone flags when given, else the
 * node's well-known labels (topology.kubernetes.io/region and /zone, set by cloud providers or by
 * the kubelet's --node-labels), read once at start-up.
 */
import type { Logger } from '../lib/logging.js';
import type { KubeClient } from '../lib/kube/rest.js';

export const NODE_REGION_LABEL = 'topology.kubernetes.io/region';
export const NODE_ZONE_LABEL = 'topology.kubernetes.io/zone';

export interface NodeLocation {
  region: string;
  zone: string;
}

export async function nodeLocation(
  client: KubeClient,
  nodeId: string,
  flags: NodeLocation,
  log: Logger,
): Promise<NodeLocation> {
  if (flags.region && flags.zone) return flags;
  try {
    const node = await client.request<{ metadata: { labels?: Record<string, string> } }>(
      'GET',
      `/api/v1/nodes/${encodeURIComponent(nodeId)}`,
    );
    const labels = node.metadata.labels ?? {};
    const location = {
      region: flags.region || (labels[NODE_REGION_LABEL] ?? ''),
      zone: flags.zone || (labels[NODE_ZONE_LABEL] ?? ''),
    };
    if (!location.region && !location.zone) {
      log.warn(
        { node: nodeId },
        `node has neither ${NODE_REGION_LABEL} nor ${NODE_ZONE_LABEL}, and no --region/--zone was given: volumes need a StorageClass whose provisioner does not ask for topology`,
      );
    }
    return location;
  } catch (error) {
    // Not fatal: the flags still hold, and a node without topology can serve volumes.
    log.warn({ node: nodeId, error: String(error) }, 'could not read the node for its topology labels');
    return flags;
  }
}
