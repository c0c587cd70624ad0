/**
 * Several single-node clusters side by side on this machine, one per site (`npm run cluster:up --
 * --sites=east,west`). Each site is a whole cluster (cluster.ts) in a network namespace of its own,
 * with its own pod range. The sites reach each other only over the WAN: a bridge in a namespace of
 * its own, each site plugged in by a veth pair. A test controls a site's link to the WAN (cut it,
 * slow it down, restore it) with tc on both ends of that pair. This machine reaches every site over
 * its uplink (network.ts) but never routes between sites.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runTool } from '../run.js';
import {
  isClusterUp,
  readClusterState,
  startCluster,
  stopCluster,
  type ClusterSite,
  type ClusterState,
  type StartClusterOptions,
} from './cluster.js';
import { ipIn, siteNetwork } from './network.js';

/** The WAN's namespace and bridge. */
export const WAN_NETNS = 'kmesh-wan';
const WAN_BRIDGE = 'wan';
/** A site's end of its WAN link, inside the site's namespace. */
const SITE_WAN_INTERFACE = 'wan0';
const SITE_NAME = /^[a-z][a-z0-9]{0,8}$/;

/** Where the sites' clusters live; `sites.json` there lists them. */
export function sitesRoot(): string {
  return process.env['KMESH_SITES_DIR'] ?? join(tmpdir(), 'kmesh-sites');
}

/** Site number `index` (1-based) named `name`. */
export function siteCluster(name: string, index: number): ClusterSite {
  if (!SITE_NAME.test(name))
    throw new Error(`site name "${name}": use 1 to 9 lower-case letters and digits, starting with a letter`);
  if (!Number.isInteger(index) || index < 1 || index > 200) throw new Error(`site index ${index}: use 1 to 200`);
  return {
    name,
    root: join(sitesRoot(), name),
    nodeName: `${name}-node`,
    location: { region: name, zone: `${name}-a` },
    network: siteNetwork(name, index),
    cgroupRoot: `/kmesh-${name}`,
  };
}

/** Parses `east,west` into sites numbered from 1. */
export function parseSites(list: string): ClusterSite[] {
  const names = list.split(',').map((name) => name.trim());
  if (names.length < 2) throw new Error(`--sites=${list}: name at least two sites, e.g. --sites=east,west`);
  if (new Set(names).size !== names.length) throw new Error(`--sites=${list}: a site is named twice`);
  return names.map((name, i) => siteCluster(name, i + 1));
}

/** The address of a site on the WAN. */
function wanAddress(site: ClusterSite): string {
  return site.network.nodeAddress.replace(/^10\.244\.(\d+)\.1$/, '10.246.0.$1');
}

const sitesFile = (): string => join(sitesRoot(), 'sites.json');

export function readSites(): ClusterSite[] {
  try {
    return JSON.parse(readFileSync(sitesFile(), 'utf8')) as ClusterSite[];
  } catch {
    return [];
  }
}

/** Each site's running cluster, or undefined when one is not up. */
export function runningSites(): ClusterState[] | undefined {
  const sites = readSites();
  const states = sites.map((site) => readClusterState(site.root));
  return sites.length > 0 && states.every(isClusterUp) ? states : undefined;
}

/**
 * Starts every site's cluster (one after the other: this machine has few cores) and the WAN between
 * them. Returns the clusters, in the order given.
 */
export async function startSites(
  sites: ClusterSite[],
  options: Omit<StartClusterOptions, 'site'> = {},
): Promise<ClusterState[]> {
  const log = options.log ?? ((): void => undefined);
  const recorded = readSites();
  if (recorded.length > 0 && JSON.stringify(recorded) !== JSON.stringify(sites)) {
    log(`stopping the sites that were up (${recorded.map((s) => s.name).join(', ')})`);
    await stopSites();
  }
  mkdirSync(sitesRoot(), { recursive: true });
  writeFileSync(sitesFile(), JSON.stringify(sites, null, 2));
  try {
    const states: ClusterState[] = [];
    for (const site of sites) {
      log(`site ${site.name}: pods in ${site.network.podSubnet}, namespace ${site.network.netns}`);
      states.push(await startCluster({ ...options, site, log: (line) => log(`[${site.name}] ${line}`) }));
    }
    await connectSites(sites);
    return states;
  } catch (error) {
    if (!process.env['KMESH_KEEP_FAILED_CLUSTER']) await stopSites().catch(() => undefined);
    throw error;
  }
}

/**
 * The WAN: a bridge every site plugs into, and routes to each other site's pods through it.
 * Idempotent: what exists is kept (sites already up), what is missing is made (a site restarted,
 * or a WAN namespace left by a crash).
 */
async function connectSites(sites: ClusterSite[]): Promise<void> {
  if (!existsSync(`/run/netns/${WAN_NETNS}`)) await runTool('ip', ['netns', 'add', WAN_NETNS]);
  const wan = (...args: string[]): Promise<string> => runTool('ip', ['-n', WAN_NETNS, ...args]);
  const hasLink = (netns: string, name: string): Promise<boolean> =>
    runTool('ip', ['-n', netns, 'link', 'show', name]).then(
      () => true,
      () => false,
    );
  if (!(await hasLink(WAN_NETNS, WAN_BRIDGE))) await wan('link', 'add', WAN_BRIDGE, 'type', 'bridge');
  await wan('link', 'set', WAN_BRIDGE, 'up');
  for (const site of sites) {
    const network = site.network;
    if (await hasLink(network.netns!, SITE_WAN_INTERFACE)) continue;
    // A stale end left in the WAN (its site's namespace was remade) goes first.
    if (await hasLink(WAN_NETNS, site.name)) await wan('link', 'delete', site.name);
    await ipIn(
      network,
      'link',
      'add',
      SITE_WAN_INTERFACE,
      'type',
      'veth',
      'peer',
      'name',
      site.name,
      'netns',
      WAN_NETNS,
    );
    await ipIn(network, 'addr', 'add', `${wanAddress(site)}/24`, 'dev', SITE_WAN_INTERFACE);
    await ipIn(network, 'link', 'set', SITE_WAN_INTERFACE, 'up');
    await wan('link', 'set', site.name, 'master', WAN_BRIDGE, 'up');
  }
  for (const site of sites)
    for (const other of sites.filter((s) => s !== site))
      await ipIn(site.network, 'route', 'replace', other.network.podSubnet, 'via', wanAddress(other));
}

/** Stops every site and removes the WAN. Idempotent. */
export async function stopSites(): Promise<void> {
  for (const site of readSites()) await stopCluster(site.root, site);
  if (existsSync(`/run/netns/${WAN_NETNS}`)) await runTool('ip', ['netns', 'delete', WAN_NETNS]);
  rmSync(sitesRoot(), { recursive: true, force: true });
}

/** How a site's link to the WAN behaves, the same in each direction. */
export type LinkState =
  | { state: 'up' }
  /** Every packet dropped: connections hang, as on a real cut, rather than being refused. */
  | { state: 'cut' }
  /** The rate held to `rateMbit` each way and, where the kernel has netem, each packet delayed `delayMs` each way. */
  | { state: 'shaped'; delayMs: number; rateMbit: number };

const CUT_COMMENT = 'kmesh-link-cut';
/** The rules of a cut, in the site's namespace: what comes in on its WAN end, and what goes out. */
const CUT_RULES = [
  ['-t', 'raw', 'PREROUTING', '-i', SITE_WAN_INTERFACE],
  ['-t', 'mangle', 'POSTROUTING', '-o', SITE_WAN_INTERFACE],
] as const;

/**
 * Sets a site's link to the WAN and returns what it set. A cut is two iptables DROP rules in the
 * site's namespace (silent loss, as a real cut looks). Shaping is a qdisc on both ends of the
 * site's veth pair, so both directions see it: netem (delay and rate) where the kernel has it, else
 * tbf (rate only; the returned delayMs is then 0).
 */
export async function setLink(site: ClusterSite, link: LinkState): Promise<LinkState> {
  const netns = site.network.netns!;
  const iptables = (...args: string[]): Promise<string> =>
    runTool('ip', ['netns', 'exec', netns, 'iptables', '-w', '5', ...args]);
  for (const [, table, chain, direction, dev] of CUT_RULES) {
    const rule = [chain, direction, dev, '-m', 'comment', '--comment', CUT_COMMENT, '-j', 'DROP'];
    const present = await iptables('-t', table, '-C', ...rule).then(
      () => true,
      () => false,
    );
    if (link.state === 'cut' && !present) await iptables('-t', table, '-I', ...rule);
    if (link.state !== 'cut' && present) await iptables('-t', table, '-D', ...rule);
  }
  const ends: Array<[string, string]> = [
    [netns, SITE_WAN_INTERFACE],
    [WAN_NETNS, site.name],
  ];
  let applied: LinkState = link;
  for (const [ns, dev] of ends) {
    const qdisc = (...args: string[]): Promise<string> => runTool('tc', ['-n', ns, 'qdisc', ...args]);
    if (link.state !== 'shaped') {
      await qdisc('del', 'dev', dev, 'root').catch(() => undefined); // none set: nothing to undo
      continue;
    }
    const rate = `${link.rateMbit}mbit`;
    // The queue holds a full window at this rate and delay, so it never drops what TCP sends.
    const netem = ['netem', 'delay', `${link.delayMs}ms`, 'rate', rate, 'limit', '100000'];
    const delayed = await qdisc('replace', 'dev', dev, 'root', ...netem).then(
      () => true,
      () => false,
    );
    if (!delayed) {
      await qdisc('replace', 'dev', dev, 'root', 'tbf', 'rate', rate, 'burst', '256kb', 'latency', '200ms');
      applied = { ...link, delayMs: 0 };
    }
  }
  return applied;
}

/** Bytes a site has sent and received over its WAN link (its veth's counters). */
export async function linkCounters(site: ClusterSite): Promise<{ txBytes: number; rxBytes: number }> {
  const out = await runTool('ip', ['-n', site.network.netns!, '-j', '-s', 'link', 'show', SITE_WAN_INTERFACE]);
  const [link] = JSON.parse(out) as Array<{ stats64: { tx: { bytes: number }; rx: { bytes: number } } }>;
  return { txBytes: link!.stats64.tx.bytes, rxBytes: link!.stats64.rx.bytes };
}
