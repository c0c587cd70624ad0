/**
 * The Lustre mounter runs exactly these commands. No test machine has the Lustre client module, so
 * the command runner and the mount table are the narrow fakes here: they record calls and keep a
 * set of mounted paths the way the kernel would.
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import type { CommandResult, CommandRunner } from './command.js';
import { LustreMounter } from './lustre.js';
import type { MountTable } from './mount-table.js';

let calls: string[];
let mounted: Set<string>;
/** Exit codes to return, in order, for commands starting with a key (default: success). */
let failures: Map<string, CommandResult[]>;

const ok: CommandResult = { code: 0, stdout: '', stderr: '', timedOut: false };
const runner: CommandRunner = {
  run(command, args) {
    const line = [command, ...args].join(' ');
    calls.push(line);
    const key = [...failures.keys()].find((k) => line.startsWith(k));
    const scripted = key ? failures.get(key)!.shift() : undefined;
    const result = scripted ?? ok;
    if (result.code === 0 && !result.timedOut) {
      if (command === 'mount' && !args.includes('remount,bind,ro')) mounted.add(args[args.length - 1]!);
      if (command === 'umount') mounted.delete(args[args.length - 1]!);
    }
    return Promise.resolve(result);
  },
};
const table: MountTable = { isMountPoint: (path) => Promise.resolve(mounted.has(path)) };
const mounter = new LustreMounter(runner, table);
const SOURCE = 'fs-mds-0.fs-mds.ml.svc.cluster.local@tcp:fs-mds-1.fs-mds.ml.svc.cluster.local@tcp:/kmfs';

beforeEach(() => {
  calls = [];
  mounted = new Set();
  failures = new Map();
});

describe('LustreMounter', () => {
  it('stages with one Lustre client mount, and not again once mounted', async () => {
    await mounter.stage(SOURCE, '/var/lib/kubelet/plugins/csi.kmesh.io/staging/aws-east');
    await mounter.stage(SOURCE, '/var/lib/kubelet/plugins/csi.kmesh.io/staging/aws-east');
    expect(calls).toEqual([`mount -t lustre -o flock,noatime ${SOURCE} /var/lib/kubelet/plugins/csi.kmesh.io/staging/aws-east`]);
  });

  it.each(['/dev/sda1', 'mds@tcp:/toolongname', 'host:/kmfs', 'a@tcp:/kmfs; reboot'])('refuses mount source %j with INVALID_ARGUMENT and runs nothing', async (source) => {
    await expect(mounter.stage(source, '/staging')).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
    expect(calls).toEqual([]);
  });

  it('reports a failed or hung mount as INTERNAL with what mount said', async () => {
    failures.set('mount -t lustre', [{ code: 5, stdout: '', stderr: 'mount.lustre: mount fs@tcp:/kmfs failed: Input/output error', timedOut: false }]);
    await expect(mounter.stage(SOURCE, '/staging')).rejects.toMatchObject({ code: status.INTERNAL, details: expect.stringContaining('Input/output error') });
    failures.set('mount -t lustre', [{ code: null, stdout: '', stderr: '', timedOut: true }]);
    await expect(mounter.stage(SOURCE, '/staging')).rejects.toMatchObject({ details: expect.stringContaining('did not finish within 60 s') });
  });

  it('unstages with umount, then forced, then lazy when the mount is busy', async () => {
    mounted.add('/staging');
    const busy: CommandResult = { code: 32, stdout: '', stderr: 'umount: /staging: target is busy.', timedOut: false };
    failures.set('umount /staging', [busy]);
    failures.set('umount -f /staging', [busy]);
    await mounter.unstage('/staging');
    expect(calls).toEqual(['umount /staging', 'umount -f /staging', 'umount -l /staging']);
    expect(mounted.has('/staging')).toBe(false);
  });

  it('unstaging or unpublishing what is not mounted runs nothing (idempotent, survives a restart)', async () => {
    await mounter.unstage('/staging');
    await mounter.unpublish('/target');
    expect(calls).toEqual([]);
  });

  it('publishes read-only as a bind mount plus a read-only remount, and undoes the bind if the remount fails', async () => {
    await mounter.publish('/staging/dataflows/ml-data', '/pods/a/volumes/v/mount', true);
    expect(calls).toEqual(['mount --bind /staging/dataflows/ml-data /pods/a/volumes/v/mount', 'mount -o remount,bind,ro /pods/a/volumes/v/mount']);
    calls = [];
    failures.set('mount -o remount', [{ code: 1, stdout: '', stderr: 'permission denied', timedOut: false }]);
    await expect(mounter.publish('/staging/dataflows/ml-data', '/pods/b/mount', true)).rejects.toMatchObject({ code: status.INTERNAL });
    expect(calls).toEqual(['mount --bind /staging/dataflows/ml-data /pods/b/mount', 'mount -o remount,bind,ro /pods/b/mount', 'umount /pods/b/mount']);
    expect(mounted.has('/pods/b/mount')).toBe(false);
  });
});
