/**
 * Volume sizes, enforced where the backend can. Lustre: each volume's directory gets a project ID
 * (`lfs project -p <id> -s -r`, inherited by everything created below it) and a hard block limit
 * on that project (`lfs setquota -p <id> -B`). The controller mounts each instance's filesystem
 * once, under its own directory, to run these. The local backend has no quota it can set on an
 * arbitrary directory, so its sizes are recorded and not enforced, and the driver says so.
 */
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { KmeshInstance } from '../api/v1alpha1/index.js';
import { internal, unavailable } from '../lib/errors.js';
import type { CommandRunner } from '../lib/command.js';
import { LustreMounter } from './mount/lustre.js';
import type { MountTable } from './mount/mount-table.js';
import { inside } from './paths.js';

export const LFS_TIMEOUT_MS = 30_000;

export interface QuotaRequest {
  instance: KmeshInstance;
  /** The volume's directory inside the instance's filesystem, e.g. /dataflows/pvc-1. */
  directory: string;
  /** Lustre project ID of the volume (1 .. 2^31-1), kept in its record. */
  projectId: number;
  bytes: number;
}

export interface Quotas {
  /** Limits the volume's directory to `bytes`; resolves to whether the limit is enforced. */
  apply(request: QuotaRequest): Promise<boolean>;
}

/** A stable project ID from a volume's key (hex); 0 is Lustre's "no project". */
export function projectIdOf(key: string): number {
  return (parseInt(key.slice(0, 8), 16) % 0x7ffffffe) + 1;
}

export class FilesystemQuotas implements Quotas {
  private readonly mounter: LustreMounter;

  /** `mountRoot`: where the controller mounts instances' filesystems, one directory each. */
  constructor(
    private readonly runner: CommandRunner,
    table: MountTable,
    private readonly mountRoot: string,
  ) {
    this.mounter = new LustreMounter(runner, table);
  }

  async apply(request: QuotaRequest): Promise<boolean> {
    const { instance } = request;
    if ((instance.spec.backend.type ?? 'local') !== 'lustre') return false;
    const source = instance.status?.mountSource;
    if (!source)
      throw unavailable(
        `KmeshInstance ${instance.metadata.namespace}/${instance.metadata.name} reports no mount source yet; its size limit is set once it does`,
      );
    const mountPoint = join(this.mountRoot, createHash('sha256').update(source).digest('hex').slice(0, 16));
    await mkdir(mountPoint, { recursive: true });
    await this.mounter.stage(source, mountPoint);
    const directory = inside(mountPoint, request.directory);
    await mkdir(directory, { recursive: true });
    await this.lfs(['project', '-p', String(request.projectId), '-s', '-r', directory]);
    // Lustre counts block limits in KiB; round up so the limit is never below the size asked for.
    await this.lfs([
      'setquota',
      '-p',
      String(request.projectId),
      '-B',
      `${Math.ceil(request.bytes / 1024)}k`,
      mountPoint,
    ]);
    return true;
  }

  private async lfs(args: string[]): Promise<void> {
    const result = await this.runner.run('lfs', args, LFS_TIMEOUT_MS);
    if (result.timedOut) throw internal(`lfs ${args.join(' ')} did not finish within ${LFS_TIMEOUT_MS / 1000} s`);
    if (result.code !== 0)
      throw internal(`lfs ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
  }
}
