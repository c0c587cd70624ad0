/**
 * The node's own components: containerd (Debian's, with runc and the CNI plugins), the kubelet and
 * kube-proxy, configured to keep every file under the cluster's root directory.
 */
import { join } from 'node:path';
import { stringify } from 'yaml';
import { CNI_BIN_DIR, type NodeNetwork } from './network.js';

/** Where the node's files live; every path is inside `root`. */
export class NodeLayout {
  constructor(readonly root: string) {}
  path(...parts: string[]): string {
    return join(this.root, ...parts);
  }
  get containerdSocket(): string {
    return this.path('containerd', 'containerd.sock');
  }
  get cniConfDir(): string {
    return this.path('cni', 'net.d');
  }
  get kubeletDir(): string {
    return this.path('kubelet');
  }
  /** Where the CSI node plugin keeps local-backend data (the chart's localRoots). */
  get localDataDir(): string {
    return this.path('kmesh-data');
  }
}

/** containerd 1.6 configuration: state, sockets, network namespaces and images under the root. */
export function containerdConfig(layout: NodeLayout, sandboxImage: string): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = "${layout.path('containerd', 'root')}"`,
    `state = "${layout.path('containerd', 'state')}"`,
    // Snapshotters this machine cannot use only add noise to the log.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '[grpc]',
    `  address = "${layout.containerdSocket}"`,
    '[ttrpc]',
    `  address = "${layout.containerdSocket}.ttrpc"`,
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = "${layout.path('containerd', 'opt')}"`,
    `[${cri}]`,
    `  sandbox_image = "${sandboxImage}"`,
    // So `down` finds (and unmounts) every pod's network namespace under the root.
    '  netns_mounts_under_state_dir = true',
    // Never below containerd's own: a machine without CAP_SYS_RESOURCE (a sandboxed VM) refuses the
    // -998 of pod sandboxes, and runc fails to start them.
    '  restrict_oom_score_adj = true',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `[${cri}.containerd.runtimes.runc.options]`,
    '  SystemdCgroup = false',
    `  Root = "${layout.path('containerd', 'runc')}"`,
    `[${cri}.cni]`,
    `  bin_dir = "${CNI_BIN_DIR}"`,
    `  conf_dir = "${layout.cniConfDir}"`,
    '',
  ].join('\n');
}

export interface KubeletPorts {
  kubelet: number;
  healthz: number;
}

/**
 * Where the node's health and metrics endpoints listen: loopback, unless the node has a network
 * namespace of its own (then its address, which this machine reaches over the uplink).
 */
export function localAddress(network: NodeNetwork): string {
  return network.netns ? network.nodeAddress : '127.0.0.1';
}

/** KubeletConfiguration: cgroupfs (no systemd here), no swap check, evictions only when truly full. */
export function kubeletConfig(
  layout: NodeLayout,
  pki: (name: string) => string,
  ports: KubeletPorts,
  node: { network: NodeNetwork; cgroupRoot: string },
): string {
  return stringify({
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    kind: 'KubeletConfiguration',
    address: node.network.nodeAddress,
    port: ports.kubelet,
    readOnlyPort: 0,
    healthzBindAddress: localAddress(node.network),
    healthzPort: ports.healthz,
    tlsCertFile: pki('kubelet.crt'),
    tlsPrivateKeyFile: pki('kubelet.key'),
    authentication: {
      anonymous: { enabled: false },
      webhook: { enabled: true },
      x509: { clientCAFile: pki('ca.crt') },
    },
    authorization: { mode: 'Webhook' },
    containerRuntimeEndpoint: `unix://${layout.containerdSocket}`,
    cgroupDriver: 'cgroupfs',
    cgroupRoot: node.cgroupRoot,
    failSwapOn: false,
    // A shared test machine's disk may be well used; the cluster must not taint itself for that.
    evictionHard: {
      'memory.available': '100Mi',
      'nodefs.available': '1%',
      'imagefs.available': '1%',
      'nodefs.inodesFree': '1%',
    },
    imageGCHighThresholdPercent: 99,
    imageGCLowThresholdPercent: 98,
    serializeImagePulls: false,
    resolvConf: '/etc/resolv.conf',
    podLogsDir: layout.path('pod-logs'),
    // Faster reaction in a test: status and pod sync.
    nodeStatusUpdateFrequency: '4s',
    syncFrequency: '10s',
    fileCheckFrequency: '5s',
    shutdownGracePeriod: '0s',
  });
}

/** KubeProxyConfiguration: iptables, masquerading all Service traffic (pods share one bridge). */
export function kubeProxyConfig(
  kubeconfig: string,
  node: { name: string; network: NodeNetwork },
  ports: { healthz: number; metrics: number },
): string {
  const local = localAddress(node.network);
  return stringify({
    apiVersion: 'kubeproxy.config.k8s.io/v1alpha1',
    kind: 'KubeProxyConfiguration',
    clientConnection: { kubeconfig },
    mode: 'iptables',
    hostnameOverride: node.name,
    clusterCIDR: node.network.podSubnet,
    healthzBindAddress: `${local}:${ports.healthz}`,
    metricsBindAddress: `${local}:${ports.metrics}`,
    // Leave the machine's conntrack table size alone.
    conntrack: { maxPerCore: 0, min: 0 },
    // Without br_netfilter tricks, a reply from a pod to a pod on the same bridge bypasses the
    // node's NAT; masquerading sends it back through the node.
    iptables: { masqueradeAll: true },
    nodePortAddresses: [`${node.network.nodeAddress}/32`],
  });
}
