/**
 * The Lustre mounter runs exactly these commands. No test machine has the Lustre client module, so
 * the command runner and the mount table are the narrow fakes here (test/support/commands.ts).
 */
import { beforeEach, describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { RecordingSystem } from '../../test/support/commands.js';
import type { CommandResult } from '../../lib/command.js';
import { LustreMounter } from './lustre.js';

let system: RecordingSystem;
let mounter: LustreMounter;
const SOURCE = 'fs-mds-0.fs-mds.ml.svc.cluster.local@tcp:fs-mds-1.fs-mds.ml.svc.cluster.local@tcp:/kmfs';

beforeEach(() => {
  system = new RecordingSystem();
  mounter = new LustreMounter(system.runner, system.table);
});

describe('LustreMounter', () => {
  it('stages with one Lustre client mount, and not again once mounted', async () => {
    await mounter.stage(SOURCE, '/var/lib/kubelet/plugins/csi.kmesh.io/staging/aws-east');
    await mounter.stage(SOURCE, '/var/lib/kubelet/plugins/csi.kmesh.io/staging/aws-east');
    expect(system.calls).toEqual([
      `mount -t lustre -o flock,noatime ${SOURCE} /var/lib/kubelet/plugins/csi.kmesh.io/staging/aws-east`,
    ]);
  });

  it.each(['/dev/sda1', 'mds@tcp:/toolongname', 'host:/kmfs', 'a@tcp:/kmfs; reboot'])(
    'refuses mount source %j with INVALID_ARGUMENT and runs nothing',
    async (source) => {
      await expect(mounter.stage(source, '/staging')).rejects.toMatchObject({ code: status.INVALID_ARGUMENT });
      expect(system.calls).toEqual([]);
    },
  );

  it('reports a failed or hung mount as INTERNAL with what mount said', async () => {
    system.scripted.set('mount -t lustre', [
      { code: 5, stdout: '', stderr: 'mount.lustre: mount fs@tcp:/kmfs failed: Input/output error', timedOut: false },
    ]);
    await expect(mounter.stage(SOURCE, '/staging')).rejects.toMatchObject({
      code: status.INTERNAL,
      details: expect.stringContaining('Input/output error'),
    });
    system.scripted.set('mount -t lustre', [{ code: null, stdout: '', stderr: '', timedOut: true }]);
    await expect(mounter.stage(SOURCE, '/staging')).rejects.toMatchObject({
      details: expect.stringContaining('did not finish within 60 s'),
    });
  });

  it('unstages with umount, then forced, then lazy when the mount is busy', async () => {
    system.mounted.add('/staging');
    const busy: CommandResult = { code: 32, stdout: '', stderr: 'umount: /staging: target is busy.', timedOut: false };
    system.scripted.set('umount /staging', [busy]);
    system.scripted.set('umount -f /staging', [busy]);
    await mounter.unstage('/staging');
    expect(system.calls).toEqual(['umount /staging', 'umount -f /staging', 'umount -l /staging']);
    expect(system.mounted.has('/staging')).toBe(false);
  });

  it('unstaging or unpublishing what is not mounted runs nothing (idempotent, survives a restart)', async () => {
    await mounter.unstage('/staging');
    await mounter.unpublish('/target');
    expect(system.calls).toEqual([]);
  });

  it('publishes read-only as a bind mount plus a read-only remount, and undoes the bind if the remount fails', async () => {
    await mounter.publish('/staging/dataflows/ml-data', '/pods/a/volumes/v/mount', true);
    expect(system.calls).toEqual([
      'mount --bind /staging/dataflows/ml-data /pods/a/volumes/v/mount',
      'mount -o remount,bind,ro /pods/a/volumes/v/mount',
    ]);
    system.calls.length = 0;
    system.scripted.set('mount -o remount', [{ code: 1, stdout: '', stderr: 'permission denied', timedOut: false }]);
    await expect(mounter.publish('/staging/dataflows/ml-data', '/pods/b/mount', true)).rejects.toMatchObject({
      code: status.INTERNAL,
    });
    expect(system.calls).toEqual([
      'mount --bind /staging/dataflows/ml-data /pods/b/mount',
      'mount -o remount,bind,ro /pods/b/mount',
      'umount /pods/b/mount',
    ]);
    expect(system.mounted.has('/pods/b/mount')).toBe(false);
  });
});
