/** Local backend: the instance's filesystem is a directory on the node; staging bind-mounts it. */
import type { CommandRunner } from './command.js';
import type { MountTable } from './mount-table.js';
import { MountCommands, type Mounter } from './mounter.js';

export class LocalMounter implements Mounter {
  private readonly commands: MountCommands;

  constructor(runner: CommandRunner, table: MountTable) {
    this.commands = new MountCommands(runner, table);
  }

  stage(source: string, stagingPath: string): Promise<void> {
    return this.commands.bind(source, stagingPath, false);
  }

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
