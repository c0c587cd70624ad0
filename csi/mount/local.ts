/** Local backend: the instance's filesystem is a directory on the node; staging bind-mounts it. */
import { StagingMounter } from './mounter.js';

export class LocalMounter extends StagingMounter {
  stage(source: string, stagingPath: string): Promise<void> {
    return this.commands.bind(source, stagingPath, false);
  }
}
