/**
 * The pod network of the single-node cluster: one Linux bridge holding the node's address, pods on
 * it through veth pairs (the CNI bridge plugin), no route out of the machine (no masquerade), and
 * kube-proxy's Service rules. Everything here is undone by `removePodNetwork`.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { runTool } from '../run.js';

export const BRIDGE = 'kmesh0';
/** Pods get addresses here; the node (and kube-apiserver) listen on the first one. */
export const POD_SUBNET = '10.244.0.0/24';
export const NODE_ADDRESS = '10.244.0.1';
/** Debian's containernetworking-plugins install here. */
export const CNI_BIN_DIR = '/usr/lib/cni';

const IP_FORWARD = '/proc/sys/net/ipv4/ip_forward';

async function ip(...args: string[]): Promise<void> {
  await runTool('ip', args);
}

export function bridgeExists(): boolean {
  return existsSync(`/sys/class/net/${BRIDGE}`);
}

/**
 * Creates the bridge with the node's address before anything listens on it; returns the previous
 * value of ip_forward (Service traffic between pods is routed through the node), to restore later.
 */
export async function createPodNetwork(): Promise<string> {
  if (bridgeExists())
    throw new Error(
      `network interface ${BRIDGE} already exists: another cluster is up (npm run cluster:down removes it)`,
    );
  await ip('link', 'add', BRIDGE, 'type', 'bridge');
  await ip('addr', 'add', `${NODE_ADDRESS}/24`, 'dev', BRIDGE);
  await ip('link', 'set', BRIDGE, 'up');
  const previous = readFileSync(IP_FORWARD, 'utf8').trim();
  writeFileSync(IP_FORWARD, '1');
  return previous;
}

/** The CNI network configuration containerd reads (conf_dir). */
export function cniConfig(ipamDir: string): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'kmesh-e2e',
      plugins: [
        {
          type: 'bridge',
          bridge: BRIDGE,
          isGateway: true,
          ipMasq: false, // pods never leave the machine
          hairpinMode: true, // a pod reaching itself through a Service
          ipam: {
            type: 'host-local',
            ranges: [[{ subnet: POD_SUBNET, gateway: NODE_ADDRESS }]],
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

/** Deletes the bridge and restores ip_forward. Idempotent. */
export async function removePodNetwork(previousIpForward: string | undefined): Promise<void> {
  if (bridgeExists()) await ip('link', 'delete', BRIDGE);
  if (previousIpForward === '0' || previousIpForward === '1') writeFileSync(IP_FORWARD, previousIpForward);
}
