/**
 * The mount layer of the node plugin: mount the instance's filesystem once per node (stage), bind
 * a DataFlow access point into a pod's target (publish), and undo both. One interface, one
 * implementation per backend; every method is idempotent and decides by the kernel's mount table.
 */
import { internal } from '../../lib/errors.js';
import type { CommandRunner } from '../../lib/command.js';
import type { MountTable } from './mount-table.js';

export const MOUNT_TIMEOUT_MS = 60_000;
export const UMOUNT_TIMEOUT_MS = 30_000;

export interface Mounter {
  /** Mounts `source` (what the backend's status calls the mount source) at `stagingPath`. No-op if mounted. */
  stage(source: string, stagingPath: string): Promise<void>;
  /** Unmounts `stagingPath`; a path that is not mounted (or does not exist) is fine. */
  unstage(stagingPath: string): Promise<void>;
  /** Bind-mounts `source` (a directory under a staging path) at `target`, read-only when asked. No-op if mounted. */
  publish(source: string, target: string, readOnly: boolean): Promise<void>;
  /** Unmounts `target`; not mounted is fine. */
  unpublish(target: string): Promise<void>;
}

/** The steps both backends share, on a command runner and a mount table. */
export class MountCommands {
  constructor(
    readonly runner: CommandRunner,
    readonly table: MountTable,
  ) {}

  async mount(args: string[], what: string): Promise<void> {
    const result = await this.runner.run('mount', args, MOUNT_TIMEOUT_MS);
    if (result.timedOut) throw internal(`${what}: mount did not finish within ${MOUNT_TIMEOUT_MS / 1000} s`);
    if (result.code !== 0)
      throw internal(`${what}: mount ${args.join(' ')} failed: ${result.stderr.trim() || `exit ${result.code}`}`);
  }

  /** mount --bind, then a read-only remount when asked (a bind mount ignores ro on the first call). */
  async bind(source: string, target: string, readOnly: boolean): Promise<void> {
    if (await this.table.isMountPoint(target)) return;
    await this.mount(['--bind', source, target], `binding ${source} to ${target}`);
    if (readOnly) {
      try {
        await this.mount(['-o', 'remount,bind,ro', target], `making ${target} read-only`);
      } catch (error) {
        await this.unmount(target); // never leave a writable mount where a read-only one was asked for
        throw error;
      }
    }
  }

  /**
   * umount; if the mount is busy or the server is gone, `umount -f` (forced), then `umount -l`
   * (lazy: detached now, released when the last user goes). Not mounted: nothing to do.
   */
  async unmount(path: string): Promise<void> {
    const attempts: string[][] = [[path], ['-f', path], ['-l', path]];
    const errors: string[] = [];
    for (const args of attempts) {
      if (!(await this.table.isMountPoint(path))) return;
      const result = await this.runner.run('umount', args, UMOUNT_TIMEOUT_MS);
      if (result.code === 0 && !result.timedOut) return;
      errors.push(
        `umount ${args.join(' ')}: ${result.timedOut ? 'timed out' : result.stderr.trim() || `exit ${result.code}`}`,
      );
    }
    if (await this.table.isMountPoint(path)) throw internal(`could not unmount ${path}: ${errors.join('; ')}`);
  }
}

/**
 * What every backend's mounter shares: publishing is a bind mount from the staged filesystem, and
 * unstaging and unpublishing are unmounts. A backend supplies only how it stages.
 */
export abstract class StagingMounter implements Mounter {
  protected readonly commands: MountCommands;

  constructor(runner: CommandRunner, table: MountTable) {
    this.commands = new MountCommands(runner, table);
  }

  abstract stage(source: string, stagingPath: string): Promise<void>;

  unstage(stagingPath: string): Promise<void> {
    return this.commands.unmount(stagingPath);
  }

  publish(source: string, target: string, readOnly: boolean): Promise<void> {
    return this.commands.bind(source, target, readOnly);
  }

  unpublish(target: string): Promise<void> {
    return this.commands.unmount(target);
  }
}
