/**
 * Lustre backend: staging is a Lustre client mount of the instance's filesystem
 * (`mount -t lustre <mgs-nids>:/<fsName> <staging>`), once per node; publishing binds a
 * DataFlow's directory from it.
 */
import { invalidArgument } from '../../lib/errors.js';
import { StagingMounter } from './mounter.js';

/** `<nid>[:<nid>...]:/<fsname>`: a Lustre client mount source. */
const LUSTRE_SOURCE = /^[^\s:/]+@[a-z0-9]+(:[^\s:/]+@[a-z0-9]+)*:\/[A-Za-z0-9_]{1,8}(\/\S*)?$/;

/** Client mount options: flock for applications that lock files, and no access-time writes. */
export const LUSTRE_MOUNT_OPTIONS = 'flock,noatime';

export class LustreMounter extends StagingMounter {
  async stage(source: string, stagingPath: string): Promise<void> {
    if (!LUSTRE_SOURCE.test(source))
      throw invalidArgument(`"${source}" is not a Lustre mount source (<nid>[:<nid>]:/<fsname>)`);
    if (await this.commands.table.isMountPoint(stagingPath)) return;
    await this.commands.mount(
      ['-t', 'lustre', '-o', LUSTRE_MOUNT_OPTIONS, source, stagingPath],
      `mounting Lustre ${source}`,
    );
  }
}
