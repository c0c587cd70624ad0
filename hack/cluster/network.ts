/**
 * A node's pod network: one Linux bridge holding the node's address, pods on it through veth pairs
 * (the CNI bridge plugin), no route out of the machine (no masquerade), and kube-proxy's Service
 * rules. The single-node cluster's bridge is in this machine's network namespace; a site of a
 * multi-site bed (sites.ts) gets a namespace of its own, reached from here through an uplink veth.
 * Everything here is undone by `removePodNetwork`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { runTool } from '../run.js';

/** Debian's containernetworking-plugins install here. */
export const CNI_BIN_DIR = '/usr/lib/cni';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

/** Where a node's network lives and its addresses. */
export interface NodeNetwork {
  /** Network namespace (under /run/netns) holding the bridge and the node's processes; unset: this machine's. */
  netns?: string;
  bridge: string;
  /** Pods get addresses here. */
  podSubnet: string;
  /** The bridge's address: the node, kube-apiserver and NodePorts listen on it. */
  nodeAddress: string;
  /** With `netns`: the veth from this machine into the namespace, so tests reach the node. */
  uplink?: { hostInterface: string; hostAddress: string; nodeSideAddress: string };
}

/** The single-node cluster's network (`npm run cluster:up`). */
export const SINGLE_NODE_NETWORK: NodeNetwork = {
  bridge: 'kmesh0',
  podSubnet: '10.244.0.0/24',
  nodeAddress: '10.244.0.1',
};

/**
 * The network of site number `index` (1-based) of a multi-site bed: namespace `kmesh-<name>`, pods
 * in 10.244.<index>.0/24, and an uplink in 10.245.<index>.0/30.
 */
export function siteNetwork(name: string, index: number): NodeNetwork {
  return {
    netns: `kmesh-${name}`,
    bridge: 'kmesh0',
    podSubnet: `10.244.${index}.0/24`,
    nodeAddress: `10.244.${index}.1`,
    uplink: { hostInterface: `kmesh-${name}`, hostAddress: `10.245.${index}.1`, nodeSideAddress: `10.245.${index}.2` },
  };
}

/** `ip` in the node's namespace. */
export async function ipIn(network: NodeNetwork, ...args: string[]): Promise<void> {
  await runTool('ip', network.netns ? ['-n', network.netns, ...args] : args);
}

export function podNetworkExists(network: NodeNetwork): boolean {
  return network.netns ? existsSync(`/run/netns/${network.netns}`) : existsSync(`/sys/class/net/${network.bridge}`);
}

/**
 * Creates the namespace (if any) and the bridge with the node's address before anything listens on
 * it, and turns on forwarding where the node routes (Service traffic between pods goes through the
 * node). Returns the previous value of this machine's ip_forward when it changed it, to restore later.
 */
export async function createPodNetwork(network: NodeNetwork): Promise<string | undefined> {
  if (podNetworkExists(network))
    throw new Error(
      `${network.netns ? `network namespace ${network.netns}` : `network interface ${network.bridge}`} already exists: another cluster is up (npm run cluster:down removes it)`,
    );
  let previous: string | undefined;
  if (network.netns) {
    const uplink = network.uplink!;
    await runTool('ip', ['netns', 'add', network.netns]);
    await ipIn(network, 'link', 'set', 'lo', 'up');
    await runTool('ip', [
      'link',
      'add',
      uplink.hostInterface,
      'type',
      'veth',
      'peer',
      'name',
      'uplink',
      'netns',
      network.netns,
    ]);
    await runTool('ip', ['addr', 'add', `${uplink.hostAddress}/30`, 'dev', uplink.hostInterface]);
    await runTool('ip', ['link', 'set', uplink.hostInterface, 'up']);
    await ipIn(network, 'addr', 'add', `${uplink.nodeSideAddress}/30`, 'dev', 'uplink');
    await ipIn(network, 'link', 'set', 'uplink', 'up');
    // No default route in the namespace: the uplink carries only this machine's traffic to the
    // node, never one site's traffic to another (that goes over the link sites.ts controls).
    await runTool('ip', ['route', 'add', network.podSubnet, 'via', uplink.nodeSideAddress]);
    await runTool('ip', ['netns', 'exec', network.netns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
  } else {
    previous = readFileSync(IP_FORWARD, 'utf8').trim();
    writeFileSync(IP_FORWARD, '1');
  }
  await ipIn(network, 'link', 'add', network.bridge, 'type', 'bridge');
  await ipIn(network, 'addr', 'add', `${network.nodeAddress}/24`, 'dev', network.bridge);
  await ipIn(network, 'link', 'set', network.bridge, 'up');
  return previous;
}

/** The CNI network configuration containerd reads (conf_dir). */
export function cniConfig(network: NodeNetwork, ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'kmesh-e2e',
      plugins: [
        {
          type: 'bridge',
          bridge: network.bridge,
          isGateway: true,
          ipMasq: false, // pods never leave the machine
          hairpinMode: true, // a pod reaching itself through a Service
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: network.podSubnet, gateway: network.nodeAddress }]],
            routes: [{ dst: '0.0.0.0/0' }],
            dataDir: ipamDir,
          },
        },
      ],
    },
    null,
    2,
  );
}

/** Deletes the bridge (or the whole namespace, uplink included) and restores ip_forward. Idempotent. */
export async function removePodNetwork(network: NodeNetwork, previousIpForward: string | undefined): Promise<void> {
  if (network.netns) {
    if (existsSync(`/run/netns/${network.netns}`)) await runTool('ip', ['netns', 'delete', network.netns]);
    // Deleting the namespace deletes the veth pair; a half-made one may be left on this side.
    if (network.uplink && existsSync(`/sys/class/net/${network.uplink.hostInterface}`))
      await runTool('ip', ['link', 'delete', network.uplink.hostInterface]);
    return;
  }
  if (podNetworkExists(network)) await ipIn(network, 'link', 'delete', network.bridge);
  if (previousIpForward === '0' || previousIpForward === '1') writeFileSync(IP_FORWARD, previousIpForward);
}
