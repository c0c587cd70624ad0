/**
 * Active publications per DataFlow (and VirtualCopy) on this node: what `status.activeMounts` and
 * `policy.deleteAfterUse` are computed from. NodePublish records each target in a small file under
 * the plugin's state directory (written to a temporary name, then renamed, so a crash leaves a
 * whole file or none) and NodeUnpublish removes it. A count includes only targets the mount table
 * still shows, so entries left by a crash are dropped rather than counted.
 *
 * Each node reports its counts in one ConfigMap, `kmesh-publications-<node>`, in the driver's
 * namespace; the DataFlow controller sums the reports of all nodes (the operator stays the only
 * writer of Kmesh status).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KubeClient } from '../lib/kube/rest.js';
import { RESOURCES } from '../lib/kube/resources.js';
import type { MountTable } from './mount/mount-table.js';
import { MANAGED_BY } from './volume-records.js';

export interface Publication {
  volumeId: string;
  /** `<namespace>/<DataFlow|VirtualCopy>/<name>` of the object whose data is published. */
  owner: string;
  target: string;
}

/** Active publications per owner key. */
export type PublicationCounts = Record<string, number>;

export class PublicationLog {
  constructor(
    private readonly dir: string,
    private readonly table: MountTable,
  ) {}

  private fileOf(target: string): string {
    return join(this.dir, `${createHash('sha256').update(target).digest('hex').slice(0, 32)}.json`);
  }

  async add(publication: Publication): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const file = this.fileOf(publication.target);
    await writeFile(`${file}.tmp`, JSON.stringify(publication));
    await rename(`${file}.tmp`, file);
  }

  /** Forgets `target`; false when it was not recorded (an inline volume, or removed before). */
  async remove(target: string): Promise<boolean> {
    try {
      await rm(this.fileOf(target));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
  }

  /** Counts per owner of the targets still mounted; forgets the others. */
  async counts(): Promise<PublicationCounts> {
    const names = await readdir(this.dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw error;
    });
    const counts: PublicationCounts = {};
    for (const name of names.filter((n) => n.endsWith('.json'))) {
      const file = join(this.dir, name);
      let publication: Publication;
      try {
        publication = JSON.parse(await readFile(file, 'utf8')) as Publication;
      } catch {
        await rm(file, { force: true }); // unreadable: never a whole record (renames are atomic)
        continue;
      }
      if (await this.table.isMountPoint(publication.target))
        counts[publication.owner] = (counts[publication.owner] ?? 0) + 1;
      else await rm(file, { force: true });
    }
    return counts;
  }
}

export interface PublicationReporter {
  report(counts: PublicationCounts): Promise<void>;
}

/** Reports a node's counts in its ConfigMap, by server-side apply (one writer per object). */
export class ConfigMapReporter implements PublicationReporter {
  constructor(
    private readonly client: KubeClient,
    private readonly namespace: string,
    private readonly nodeId: string,
  ) {}

  static nameFor(nodeId: string): string {
    const name = `kmesh-publications-${nodeId}`;
    return name.length <= 253
      ? name
      : `kmesh-publications-${createHash('sha256').update(nodeId).digest('hex').slice(0, 32)}`;
  }

  async report(counts: PublicationCounts): Promise<void> {
    const sorted = Object.fromEntries(Object.entries(counts).sort(([a], [b]) => (a < b ? -1 : 1)));
    await this.client.apply(
      RESOURCES.configMap,
      {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: {
          name: ConfigMapReporter.nameFor(this.nodeId),
          namespace: this.namespace,
          labels: { ...MANAGED_BY, 'csi.kmesh.io/publications': 'true' },
          annotations: { 'csi.kmesh.io/node': this.nodeId },
        },
        data: { publications: JSON.stringify(sorted) },
      },
      'kmesh-csi-node',
      { force: true },
    );
  }
}
