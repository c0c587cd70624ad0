/**
 * Two sites end to end, as a platform team sets them up: two single-node clusters on this machine
 * (hack/cluster/sites.ts), each in a network namespace of its own, joined only by a WAN link this
 * test cuts, slows and restores. Each site gets Kmesh with `helm install`, its certificate from a
 * CA both share (`kmesh certs`), a KmeshInstance, and a DataFlow: east pushes to west's gateway
 * (a NodePort), west accepts. An application pod at east writes a tree through a PVC; a pod at west
 * reads the same bytes through a PVC of its own. No configuration is written by hand: the operator
 * renders every gateway and worker configuration. Needs root.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { installChart, localDataPath } from '../../hack/cluster/kmesh-release.js';
import { linkCounters, parseSites, runningSites, setLink, startSites, stopSites } from '../../hack/cluster/sites.js';
import {
  createSiteSecrets,
  PARALLELISM,
  REPLICA_FLOW,
  replicaDataFlow,
  SHARED_SUBTREE as SHARED,
  SITE_PVC as PVC,
  siteClaim,
  siteInstance,
  siteValues,
  SOURCE_FLOW,
  sourceDataFlow,
  TWO_SITES_NAMESPACE,
} from '../../hack/cluster/two-sites.js';
import { nodePod } from '../../hack/cluster/walkthrough.js';
import { ClusterApi, condition, type Obj, type Pod } from '../support/cluster-api.js';
import { eventually } from '../support/eventually.js';

const MINUTE = 60_000;
const MiB = 1024 * 1024;
/** The link while shaped: 100 Mbit/s each way, 10 ms each way (20 ms round trip) where netem exists. */
const SLOW_LINK = { state: 'shaped', delayMs: 10, rateMbit: 100 } as const;

type PeerStatus = {
  name: string;
  connected?: boolean;
  lastSyncTime?: string;
  lagSeconds?: number;
  pendingBytes?: number;
};
type DataFlowObj = Obj & {
  status?: { peers?: PeerStatus[]; transfer?: { logicalBytes?: number; wireBytes?: number; files?: number } };
};

let east: ClusterApi;
let west: ClusterApi;
let certDir: string;
/** Whether this test started the sites (and so must stop them). */
let startedSites = false;

/** Prints the tree under `root` as one hash (names, types, sizes, contents, link targets) and a count. */
const TREE_HASH = (root: string): string => `
const fs = require('fs'), path = require('path'), crypto = require('crypto');
const total = crypto.createHash('sha256'); let entries = 0;
const walk = (dir, rel) => {
  for (const name of fs.readdirSync(dir).sort()) {
    const full = path.join(dir, name), st = fs.lstatSync(full); entries++;
    if (st.isDirectory()) { total.update('d ' + rel + name + '\\0'); walk(full, rel + name + '/'); }
    else if (st.isSymbolicLink()) total.update('l ' + rel + name + ' ' + fs.readlinkSync(full) + '\\0');
    else total.update('f ' + rel + name + ' ' + st.size + ' ' + crypto.createHash('sha256').update(fs.readFileSync(full)).digest('hex') + '\\0');
  }
};
walk(${JSON.stringify(root)}, '');
console.log(JSON.stringify({ hash: total.digest('hex'), entries }));`;

/**
 * Writes a tree at `root`: `files` files (a few large ones), odd names, nested directories, a
 * symlink, then renames and deletes some, as an application does. Content is random (no gain from
 * compression, so the wire carries what the files hold).
 */
const WRITE_TREE = (root: string, files: number, seed: number): string => `
const fs = require('fs'), path = require('path'), crypto = require('crypto');
let s = ${seed}; const rnd = (n) => { s = (s * 1103515245 + 12345) % 2147483648; return s % n; };
const names = ['plain', 'with space', 'ünïcödé', 'dash-and_underscore', 'dots.in.name', 'x'.repeat(120)];
const written = [];
for (let i = 0; i < ${files}; i++) {
  const dir = path.join(${JSON.stringify(root)}, 'd' + rnd(8), 'sub' + rnd(4));
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, names[rnd(names.length)] + '-' + i);
  const size = i % 97 === 0 ? 6 * 1024 * 1024 + rnd(1 << 20) : rnd(64 * 1024);
  fs.writeFileSync(file, crypto.randomBytes(size)); written.push(file);
}
fs.symlinkSync('d0', path.join(${JSON.stringify(root)}, 'link-to-d0'));
for (let i = 0; i < written.length; i += 15) fs.renameSync(written[i], written[i] + '.renamed');
for (let i = 7; i < written.length; i += 15) fs.unlinkSync(written[i]);
console.log('wrote ' + ${files});`;

/** Writes `mib` MiB of new random content in 8 MiB files under `dir`. */
const WRITE_CHANGES = (dir: string, mib: number): string => `
const fs = require('fs'), crypto = require('crypto');
fs.mkdirSync(${JSON.stringify(dir)}, { recursive: true });
for (let i = 0; i < ${mib} / 8; i++) fs.writeFileSync(${JSON.stringify(dir)} + '/part-' + i, crypto.randomBytes(8 * 1024 * 1024));
console.log('changed ${mib} MiB');`;

const treeHash = async (site: ClusterApi, pod: string, root: string): Promise<{ hash: string; entries: number }> =>
  JSON.parse((await site.execNode(pod, TREE_HASH(root))).trim()) as { hash: string; entries: number };

/** Waits until west's tree (read through its PVC) equals east's; returns how long it took. */
async function converged(timeoutMs: number): Promise<number> {
  const started = Date.now();
  const wanted = await treeHash(east, 'app', `/data${SHARED}`);
  await eventually(
    async () => expect(await treeHash(west, 'reader', `/data${SHARED}`)).toEqual(wanted),
    timeoutMs,
    1000,
  );
  return Date.now() - started;
}

const dataFlow = (site: ClusterApi, name: string): Promise<DataFlowObj> =>
  site.get<DataFlowObj>(site.kmesh('dataflows', name));
const peer = async (name: string): Promise<PeerStatus | undefined> =>
  (await dataFlow(east, SOURCE_FLOW)).status?.peers?.find((p) => p.name === name);

beforeAll(async () => {
  if (runningSites())
    throw new Error('sites are already up; stop them with `npm run cluster:down` (this test starts its own)');
  startedSites = true;
  const [eastState, westState] = await startSites(parseSites('east,west'), {
    log: (line) => process.stdout.write(`[sites] ${line}\n`),
  });
  east = new ClusterApi(eastState!, TWO_SITES_NAMESPACE);
  west = new ClusterApi(westState!, TWO_SITES_NAMESPACE);
  certDir = mkdtempSync(join(tmpdir(), 'kmesh-e2e-certs-'));
}, 30 * MINUTE);

afterAll(async () => {
  east?.close();
  west?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
  if (startedSites) await stopSites();
}, 5 * MINUTE);

describe('two sites: one dataset live in both, a cut link survived', () => {
  it(
    'each site installs Kmesh with helm, gets its certificate from a shared CA, and west exposes its gateway',
    async () => {
      await installChart(east.state, siteValues(east.state, SOURCE_FLOW));
      await installChart(west.state, siteValues(west.state, REPLICA_FLOW));
      await createSiteSecrets([east.state, west.state], certDir);
      await west.post(west.kmesh('kmeshinstances'), siteInstance(west.state, true));
      await east.post(east.kmesh('kmeshinstances'), siteInstance(east.state, false));
      // West's status names the address east must use: the node's and the node port.
      const westInstance = await eventually(
        async () => {
          const found = await west.get(west.kmesh('kmeshinstances', 'west'));
          expect(condition(found, 'Ready')?.status).toBe('True');
          const node = west.state.site.network.nodeAddress.replace(/\./g, '\\.');
          expect(found.status?.['gatewayEndpoint']).toMatch(new RegExp(`^${node}:3\\d{4}$`));
          return found;
        },
        3 * MINUTE,
        1000,
      );
      const endpoint = westInstance.status!['gatewayEndpoint'] as string;
      await west.post(west.kmesh('dataflows'), replicaDataFlow(east.state, west.state));
      await east.post(east.kmesh('dataflows'), sourceDataFlow(east.state, west.state, endpoint));
      for (const [site, name] of [
        [east, SOURCE_FLOW],
        [west, REPLICA_FLOW],
      ] as const)
        await eventually(
          async () => expect(condition(await dataFlow(site, name), 'Ready')?.status).toBe('True'),
          3 * MINUTE,
          1000,
        );
    },
    15 * MINUTE,
  );

  it(
    'a tree an app writes at east through a PVC is read at west through its own PVC, only the shared subtree',
    async () => {
      for (const [site, pod] of [
        [east, 'app'],
        [west, 'reader'],
      ] as const) {
        await site.post(site.ns('persistentvolumeclaims'), siteClaim());
        await site.post(site.ns('pods'), nodePod(pod, 'console.log("up")', PVC, TWO_SITES_NAMESPACE));
        await site.waitPodRunning(pod);
      }
      await east.execNode('app', WRITE_TREE(`/data${SHARED}`, 300, 42));
      await east.execNode(
        'app',
        `require('fs').mkdirSync('/data/private'); require('fs').writeFileSync('/data/private/keys', 'east only')`,
      );
      const tookMs = await converged(5 * MINUTE);
      process.stdout.write(
        `[two-sites] first sync of the tree: west matched east ${(tookMs / 1000).toFixed(1)} s after the write\n`,
      );
      const shared = await treeHash(west, 'reader', `/data${SHARED}`);
      expect(shared.entries).toBeGreaterThan(250);
      // paths: west sees only /projects.
      expect(
        JSON.parse(
          await west.execNode(
            'reader',
            `console.log(JSON.stringify(require('fs').readdirSync('/data').filter((n) => !n.startsWith('.'))))`,
          ),
        ),
      ).toEqual(['projects']);
    },
    10 * MINUTE,
  );

  it(
    'status tells the truth at both sites, and the gateway runs what the operator rendered',
    async () => {
      const status = await eventually(
        async () => {
          const found = await dataFlow(east, SOURCE_FLOW);
          const west0 = found.status?.peers?.find((p) => p.name === 'west');
          expect(west0).toMatchObject({ connected: true, pendingBytes: 0 });
          expect(west0?.lastSyncTime).toBeTruthy();
          expect(condition(found, 'PeersConnected')?.status).toBe('True');
          expect(condition(found, 'Synced')?.status).toBe('True');
          // The operator copies the worker's report on its own schedule: the tree shows up in it.
          expect(found.status?.transfer?.logicalBytes).toBeGreaterThan(20 * MiB);
          return found;
        },
        2 * MINUTE,
        1000,
      );
      // Random content: compression gains nothing, so the wire carried at least the files' bytes.
      expect(status.status?.transfer?.wireBytes).toBeGreaterThan(20 * MiB);
      expect(await east.eventReasons(SOURCE_FLOW)).toContain('Synced');
      // West's gateway configuration is the operator's, and names the DataFlow and the peer east.
      const configMaps = await west.get<{
        items: Array<{ metadata: { name: string }; data?: Record<string, string> }>;
      }>(west.ns('configmaps'));
      // The ConfigMap the gateway Deployment mounts is named after the instance, as the Deployment is.
      const gatewayConfig = configMaps.items.find((c) => c.metadata.name === 'west-gateway');
      expect(Object.values(gatewayConfig?.data ?? {}).join('\n')).toMatch(/shared-replica[\s\S]*east/);
      const westFlow = await dataFlow(west, REPLICA_FLOW);
      expect(condition(westFlow, 'Ready')?.status).toBe('True');
    },
    5 * MINUTE,
  );

  it(
    'a cut link: both sites keep serving, east reports the peer down, and they converge on their own when it returns',
    async () => {
      const before = await treeHash(west, 'reader', `/data${SHARED}`);
      await setLink(east.state.site, { state: 'cut' });
      let sentAtRestore = 0;
      let restoredAt = '';
      try {
        // Writes at east succeed; reads at west return the last synced version.
        await east.execNode('app', WRITE_CHANGES(`/data${SHARED}/during-cut`, 96));
        await east.execNode('app', `require('fs').rmSync('/data${SHARED}/d1', { recursive: true, force: true })`);
        expect(await treeHash(west, 'reader', `/data${SHARED}`)).toEqual(before);
        const down = await eventually(
          async () => {
            const found = await dataFlow(east, SOURCE_FLOW);
            const cond = condition(found, 'PeersConnected');
            expect(cond?.status).toBe('False');
            expect(cond?.reason).toBe('PeerUnreachable');
            expect(found.status?.peers?.find((p) => p.name === 'west')?.connected).toBe(false);
            return found;
          },
          3 * MINUTE,
          2000,
        );
        expect(condition(down, 'PeersConnected')?.message).toMatch(/west/);
        expect(await east.eventReasons(SOURCE_FLOW)).toContain('SyncFailed');
        const lag = async (): Promise<number> => (await peer('west'))?.lagSeconds ?? 0;
        const firstLag = await lag();
        await eventually(async () => expect(await lag()).toBeGreaterThan(firstLag), MINUTE, 2000);
        sentAtRestore = (await dataFlow(east, SOURCE_FLOW)).status?.transfer?.wireBytes ?? 0;
      } finally {
        restoredAt = new Date(Math.floor(Date.now() / 1000) * 1000).toISOString();
        await setLink(east.state.site, { state: 'up' });
      }
      const tookMs = await converged(5 * MINUTE);
      process.stdout.write(
        `[two-sites] after the link came back: 96 MiB of changes converged in ${(tookMs / 1000).toFixed(1)} s\n`,
      );
      // The status reports a pass after the link returned, with nothing left to send.
      const after = await eventually(
        async () => {
          const found = await dataFlow(east, SOURCE_FLOW);
          expect(condition(found, 'PeersConnected')?.status).toBe('True');
          const west0 = found.status?.peers?.find((p) => p.name === 'west');
          expect(west0?.pendingBytes).toBe(0);
          expect((west0?.lastSyncTime ?? '') >= restoredAt).toBe(true);
          return found;
        },
        2 * MINUTE,
        1000,
      );
      // Sent after the cut is what west lacked: nothing acknowledged goes again beyond a chunk (at
      // most 1 MiB) per stream, plus manifests.
      const sent = (after.status?.transfer?.wireBytes ?? 0) - sentAtRestore;
      process.stdout.write(
        `[two-sites] sent after the link came back: ${(sent / MiB).toFixed(1)} MiB for 96 MiB of changes\n`,
      );
      expect(sent).toBeGreaterThan(96 * MiB);
      expect(sent).toBeLessThan(96 * MiB + PARALLELISM * MiB + 2 * MiB);
    },
    15 * MINUTE,
  );

  it(
    'a slow link: a 256 MiB change set arrives, at close to the link rate',
    async () => {
      const applied = await setLink(east.state.site, SLOW_LINK);
      try {
        // East's WAN counters every 250 ms while the change set travels.
        const samples: Array<{ at: number; bytes: number }> = [];
        const sample = async (): Promise<void> => {
          const { txBytes } = await linkCounters(east.state.site);
          samples.push({ at: Date.now(), bytes: txBytes });
        };
        // Written outside the shared subtree, then moved in at once: the transfer has it all from the
        // start, so what is measured is the link and the engine, not how fast the app writes.
        await east.execNode('app', WRITE_CHANGES('/data/private/slow-link', 256));
        await sample();
        await east.execNode('app', `require('fs').renameSync('/data/private/slow-link', '/data${SHARED}/slow-link')`);
        const written = Date.now();
        const polling = setInterval(() => void sample().catch(() => undefined), 250);
        try {
          // Until the change set went out and the link is quiet again. Only then are the trees
          // compared: hashing them in the pods meanwhile would take the CPU the transfer needs.
          await eventually(
            () => {
              const last = samples[samples.length - 1]!;
              const threeSecondsBefore = samples.find((s) => s.at >= last.at - 3000)!;
              expect(last.bytes - samples[0]!.bytes).toBeGreaterThan(256 * MiB);
              expect(last.bytes - threeSecondsBefore.bytes).toBeLessThan(256 * 1024);
            },
            10 * MINUTE,
            500,
          );
        } finally {
          clearInterval(polling);
        }
        await converged(5 * MINUTE);
        // The link's rate while it carried the change set: between the samples where the first
        // and the last MiB went out (the edges of the transfer trimmed).
        const base = samples[0]!.bytes;
        const total = samples[samples.length - 1]!.bytes - base;
        const start = samples.find((s) => s.bytes > base + MiB)!;
        const end = samples.find((s) => s.bytes >= base + total - MiB)!;
        const mbit = ((end.bytes - start.bytes) * 8) / ((end.at - start.at) / 1000) / 1e6;
        const sentS = (end.at - written) / 1000; // from the move to the change set's last MiB on the wire
        const shape =
          applied.state === 'shaped' ? `${applied.rateMbit} Mbit/s, ${2 * applied.delayMs} ms added round trip` : '';
        process.stdout.write(
          `[two-sites] slow link (${shape}): ${(total / MiB).toFixed(0)} MiB on the wire at ${mbit.toFixed(1)} Mbit/s ` +
            `while it moved, ${((100 * mbit) / SLOW_LINK.rateMbit).toFixed(0)}% of the link; the 256 MiB change set was on the wire ` +
            `${sentS.toFixed(1)} s after it appeared, scan included (${((256 * MiB * 8) / sentS / 1e6).toFixed(1)} Mbit/s end to end)\n`,
        );
        expect(total).toBeGreaterThan(256 * MiB); // the change set, with TLS and protocol overhead
        expect(mbit).toBeLessThanOrEqual(SLOW_LINK.rateMbit * 1.1); // the shaping held
      } finally {
        await setLink(east.state.site, { state: 'up' });
      }
    },
    15 * MINUTE,
  );

  it(
    'the gateway pod at west is deleted mid-transfer: the flow resumes on the new pod and converges',
    async () => {
      await setLink(east.state.site, SLOW_LINK); // so the transfer lasts long enough to interrupt
      try {
        const sentBefore = (await linkCounters(east.state.site)).txBytes;
        await east.execNode('app', WRITE_CHANGES(`/data${SHARED}/gateway-restart`, 96));
        // Mid-transfer: a sixth of the change set is on the wire.
        await eventually(
          async () => expect((await linkCounters(east.state.site)).txBytes).toBeGreaterThan(sentBefore + 16 * MiB),
          3 * MINUTE,
          250,
        );
        const pods = await west.get<{ items: Pod[] }>(
          `${west.ns('pods')}?labelSelector=${encodeURIComponent('app.kubernetes.io/component=gateway')}`,
        );
        expect(pods.items).toHaveLength(1);
        const old = pods.items[0]!.metadata.name;
        await west.del(west.ns('pods', old));
        await eventually(
          async () => {
            const now = await west.get<{ items: Pod[] }>(
              `${west.ns('pods')}?labelSelector=${encodeURIComponent('app.kubernetes.io/component=gateway')}`,
            );
            expect(now.items.map((p) => p.metadata.name)).not.toContain(old);
            expect(now.items.some((p) => p.status?.phase === 'Running')).toBe(true);
          },
          3 * MINUTE,
          1000,
        );
        await converged(10 * MINUTE);
      } finally {
        await setLink(east.state.site, { state: 'up' });
      }
      expect(condition(await west.get(west.kmesh('kmeshinstances', 'west')), 'Ready')?.status).toBe('True');
    },
    20 * MINUTE,
  );

  it(
    'deleteAfterUse at west: the last PVC there goes away, west’s copy is removed, east’s stays',
    async () => {
      const eastBefore = await treeHash(east, 'app', `/data${SHARED}`);
      await west.del(west.ns('pods', 'reader'));
      await eventually(async () => expect(await west.exists(west.ns('pods', 'reader'))).toBe(false), 2 * MINUTE, 1000);
      await west.del(west.ns('persistentvolumeclaims', PVC));
      await eventually(
        async () => expect(condition(await dataFlow(west, REPLICA_FLOW), 'DataDeleted')?.status).toBe('True'),
        3 * MINUTE,
        1000,
      );
      expect(await west.eventReasons(REPLICA_FLOW)).toContain('DataDeleted');
      // West's files are gone from its node; east's tree is as it was.
      const westData = localDataPath(west.state, 'west');
      const leftFiles = (dir: string): string[] =>
        existsSync(dir)
          ? readdirSync(dir, { withFileTypes: true, recursive: true })
              .filter((e) => e.isFile() && !join(e.parentPath, e.name).includes('/.kmesh'))
              .map((e) => join(e.parentPath, e.name))
          : [];
      expect(leftFiles(westData).filter((f) => f.includes(SHARED))).toEqual([]);
      expect(await treeHash(east, 'app', `/data${SHARED}`)).toEqual(eastBefore);
    },
    10 * MINUTE,
  );
  it('the operators write a status only when it changed: no loop of writes at either site', async () => {
    // Each status write is a watch event that starts another reconcile; a status that differs on
    // every reconcile (a fresh capacity measurement did) loops and keeps the API server busy.
    for (const site of [east, west]) {
      const metrics = String(await site.client.request<unknown>('GET', '/metrics'));
      const writes = (resource: string): number =>
        metrics
          .split('\n')
          .filter((line) => line.startsWith('apiserver_request_total{') && line.includes(`resource="${resource}"`))
          .filter((line) => line.includes('subresource="status"') && /verb="(PUT|PATCH)"/.test(line))
          .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
      // One instance and one DataFlow per site over about ten minutes: a few writes a minute at most.
      process.stdout.write(
        `[two-sites] ${site.state.site.name}: ${writes('kmeshinstances')} KmeshInstance and ${writes('dataflows')} DataFlow status writes\n`,
      );
      expect(writes('kmeshinstances')).toBeLessThan(150);
      expect(writes('dataflows')).toBeLessThan(300);
    }
  });
});
