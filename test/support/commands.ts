/**
 * A recording command runner and mount table: the narrow fake for what no test machine has (the
 * Lustre client and its `lfs` tool). It records each command line, answers from a script of
 * failures (default: success), and keeps the set of mounted paths the way the kernel would.
 */
import type { CommandResult, CommandRunner } from '../../lib/command.js';
import type { MountTable } from '../../csi/mount/mount-table.js';

export const OK: CommandResult = { code: 0, stdout: '', stderr: '', timedOut: false };

export class RecordingSystem {
  readonly calls: string[] = [];
  readonly mounted = new Set<string>();
  /** Results to return, in order, for command lines starting with a key. */
  readonly scripted = new Map<string, CommandResult[]>();

  readonly runner: CommandRunner = {
    run: (command, args) => {
      const line = [command, ...args].join(' ');
      this.calls.push(line);
      const key = [...this.scripted.keys()].find((k) => line.startsWith(k));
      const result = (key ? this.scripted.get(key)!.shift() : undefined) ?? OK;
      if (result.code === 0 && !result.timedOut) {
        if (command === 'mount' && !args.includes('remount,bind,ro')) this.mounted.add(args[args.length - 1]!);
        if (command === 'umount') this.mounted.delete(args[args.length - 1]!);
      }
      return Promise.resolve(result);
    },
  };

  readonly table: MountTable = { isMountPoint: (path) => Promise.resolve(this.mounted.has(path)) };
}
