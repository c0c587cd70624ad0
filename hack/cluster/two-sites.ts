/**
 * The objects a platform team creates to share one dataset between two sites, as the two-site
 * end-to-end test and `npm run demo:two-sites` both create them (README.md, "Two sites"): per site
 * a certificate from a CA both trust, the chunk key both share and a local-backend KmeshInstance;
 * west's gateway exposed as a NodePort; at east a DataFlow pushing its /projects subtree to west,
 * at west the DataFlow accepting it; a PVC of each site's StorageClass bound to its DataFlow's root.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { REPO_ROOT } from '../tools.js';
import type { ClusterState } from './cluster.js';
import { clusterValues, kubectl, localDataPath } from './kmesh-release.js';
import { persistentVolumeClaim } from './walkthrough.js';

const run = promisify(execFile);

export const TWO_SITES_NAMESPACE = 'apps';
/** East's DataFlow and west's, and the Secret each site's certificate is in (`<site>-tls`). */
export const SOURCE_FLOW = 'shared';
export const REPLICA_FLOW = 'shared-replica';
export const KEY_SECRET = 'shared-key';
export const SITE_PVC = 'data';
/** The subtree east shares with west (spec.peers[].paths); the rest stays at east. */
export const SHARED_SUBTREE = '/projects';
/** Bulk TLS streams east's worker opens to west. */
export const PARALLELISM = 8;

const tlsSecret = (state: ClusterState): string => `${state.site.name}-tls`;

/** For creates that may find the object made by an earlier run (the demo runs again on the same sites). */
function alreadyExists(error: unknown): void {
  if (!/AlreadyExists|already exists/.test(String(error))) throw error;
}
const encryption = { algorithm: 'aes-256-gcm', keySecretRef: { name: KEY_SECRET } };

/** Chart values for a site: its StorageClass binds every volume to the root of the site's DataFlow. */
export function siteValues(state: ClusterState, dataFlow: string): Record<string, unknown> {
  return {
    ...clusterValues(state, { instance: state.site.name, dataFlow, accessPoint: 'shared' }),
    // A pass every 2 s instead of 10: a tour (and a test) waits less.
    operator: { syncInterval: '2s' },
    // Snapshots are not part of this setup (their CRDs come with the snapshot controller).
    volumeSnapshotClass: { create: false },
  };
}

/** `kmesh certs` from this checkout, as a user runs it. */
export function kmeshCli(...args: string[]): Promise<{ stdout: string }> {
  return run(join(REPO_ROOT, 'node_modules', '.bin', 'tsx'), [join(REPO_ROOT, 'cmd', 'kmesh.ts'), ...args], {
    cwd: REPO_ROOT,
  });
}

/**
 * Makes a CA in `certDir` (`kmesh certs ca`), then in each site: the namespace, the site's
 * certificate Secret (`kmesh certs site`) and the chunk key both share.
 */
export async function createSiteSecrets(sites: ClusterState[], certDir: string): Promise<void> {
  await kmeshCli('certs', 'ca', '--out', certDir);
  // 32 random bytes for aes-256-gcm, the same at both sites.
  const keyFile = join(certDir, 'chunk.key');
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  for (const state of sites) {
    const name = state.site.name;
    const file = join(certDir, `${name}.yaml`);
    await kmeshCli(
      'certs',
      'site',
      name,
      '--ca-cert',
      join(certDir, 'ca.crt'),
      '--ca-key',
      join(certDir, 'ca.key'),
      '--namespace',
      TWO_SITES_NAMESPACE,
      '--secret-name',
      tlsSecret(state),
      '--out',
      file,
    );
    await kubectl(state, 'create', 'namespace', TWO_SITES_NAMESPACE).catch(alreadyExists);
    // Server-side: a client-side apply would keep a copy of the private key in an annotation.
    await kubectl(state, 'apply', '--server-side', '-f', file);
    // Kept when it exists: the key must stay the same at both sites.
    await kubectl(
      state,
      'create',
      'secret',
      'generic',
      KEY_SECRET,
      '-n',
      TWO_SITES_NAMESPACE,
      `--from-file=key=${keyFile}`,
    ).catch(alreadyExists);
  }
}

/** A site's KmeshInstance; `exposeGateway` gives it a gateway other sites reach on a NodePort. */
export function siteInstance(state: ClusterState, exposeGateway: boolean): object {
  return {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'KmeshInstance',
    metadata: { name: state.site.name, namespace: TWO_SITES_NAMESPACE },
    spec: {
      location: { cloud: 'onprem', ...state.site.location },
      backend: { type: 'local', local: { path: localDataPath(state, state.site.name) } },
      gateway: exposeGateway
        ? { service: { type: 'NodePort' }, tlsSecretRef: { name: tlsSecret(state) } }
        : { replicas: 0 },
    },
  };
}

/** At east: the DataFlow whose worker pushes the shared subtree to west's gateway at `endpoint`. */
export function sourceDataFlow(east: ClusterState, west: ClusterState, endpoint: string): object {
  return {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'DataFlow',
    metadata: { name: SOURCE_FLOW, namespace: TWO_SITES_NAMESPACE },
    spec: {
      instanceRef: { name: east.site.name },
      peers: [
        {
          name: west.site.name,
          endpoint,
          remoteDataFlow: `${TWO_SITES_NAMESPACE}/${REPLICA_FLOW}`,
          direction: 'push',
          tlsSecretRef: { name: tlsSecret(east) },
          paths: [SHARED_SUBTREE],
        },
      ],
      policy: { compression: 'lz4', encryption, parallelism: PARALLELISM },
    },
  };
}

/** At west: the DataFlow its gateway fills with what east pushes; its data goes with its last volume. */
export function replicaDataFlow(east: ClusterState, west: ClusterState): object {
  return {
    apiVersion: 'kmesh.io/v1alpha1',
    kind: 'DataFlow',
    metadata: { name: REPLICA_FLOW, namespace: TWO_SITES_NAMESPACE },
    spec: {
      instanceRef: { name: west.site.name },
      peers: [
        {
          name: east.site.name,
          // Where east's gateway would be; a pull peer is only accepted from, never dialled.
          endpoint: `${east.site.network.nodeAddress}:7443`,
          direction: 'pull',
          tlsSecretRef: { name: tlsSecret(west) },
        },
      ],
      policy: { encryption, deleteAfterUse: true },
    },
  };
}

/** A PVC of the site's StorageClass: the root of the site's DataFlow. */
export function siteClaim(): object {
  return persistentVolumeClaim(SITE_PVC, TWO_SITES_NAMESPACE);
}
