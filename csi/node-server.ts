/**
 * The CSI Node service: NodeStage mounts the instance's filesystem once per node and volume
 * (local: a bind of the instance directory; Lustre: a client mount), NodePublish binds the
 * access point of the DataFlow (or VirtualCopy), plus the volume's sub-path, into the pod,
 * read-only when asked, and counts the publication (publications.ts). Unstage and unpublish need
 * nothing but the path: they work after a plugin restart, and after the KmeshInstance or DataFlow
 * is gone. Calls on one volume are serialized; a second call while one runs gets ABORTED, as the
 * CSI specification asks.
 */
import { mkdir, rmdir, statfs } from 'node:fs/promises';
import { failedPrecondition, invalidArgument, notFound } from '../lib/errors.js';
import type { CommandRunner } from '../lib/command.js';
import { LocalMounter } from './mount/local.js';
import { LustreMounter } from './mount/lustre.js';
import type { MountTable } from './mount/mount-table.js';
import { MountCommands, type Mounter } from './mount/mounter.js';
import { assertMountOf, directoryWithin, identity, inside } from './paths.js';
import { requiredString } from './request.js';
import type { RequestReceived, ResponseSent, TypedHandlers } from '../lib/grpc-service-types.js';
import type { NodeDefinition } from './generated/csi/v1/Node.js';
import type { Logger } from '../lib/logging.js';
import type { PublicationLog, PublicationReporter } from './publications.js';
import { checkCapability, READ_ONLY_MODES } from './capabilities.js';
import type { InstanceLocation, VolumeResolver } from './resolver.js';
import { instanceRootRequest, type InstanceRootRequest } from '../lib/instance-volume.js';
import { TOPOLOGY_REGION_KEY, TOPOLOGY_ZONE_KEY } from './topology.js';
import { VolumeLocks } from './volume-locks.js';
import { InvalidVolumeId, parseVolumeId, type VolumeRef } from './volume-id.js';

export interface NodeOptions {
  nodeId: string;
  region?: string;
  zone?: string;
  resolver: VolumeResolver;
  runner: CommandRunner;
  table: MountTable;
  /** Where publications are recorded, and where their counts are reported. */
  publications: PublicationLog;
  reporter: PublicationReporter;
  log: Logger;
  /** Host directories below which local instances may keep their data (--local-roots). */
  localRoots: readonly string[];
  /** Where the node mounts instance filesystems for inline volumes, as `<dir>/<namespace>/<instance>/<uid>`. */
  instanceMountDir: string;
}

/**
 * Node methods and their messages as generated from proto/csi.proto: a misspelt request or
 * response field is a type error (see controller-server.ts).
 */
type NodeMethod = keyof TypedHandlers<NodeDefinition>;
type Received<M extends NodeMethod> = RequestReceived<NodeDefinition, M>;
type Reply<M extends NodeMethod> = ResponseSent<NodeDefinition, M>;

const NODE_CAPABILITIES = [
  'STAGE_UNSTAGE_VOLUME',
  'GET_VOLUME_STATS',
  'VOLUME_CONDITION',
  'SINGLE_NODE_MULTI_WRITER',
] as const;

/** True when `volumeId` is one of ours (persistent volumes), not one the kubelet made for an inline volume. */
function isKmeshVolumeId(volumeId: string): boolean {
  try {
    parseVolumeId(volumeId);
    return true;
  } catch (error) {
    if (error instanceof InvalidVolumeId) return false;
    throw error;
  }
}

/** The parsed volume ID; an ID that cannot be ours names a volume that does not exist. */
function volumeOf(request: { volume_id: string }): VolumeRef & { volumeId: string } {
  const volumeId = requiredString(request, 'volume_id');
  try {
    return { ...parseVolumeId(volumeId), volumeId };
  } catch (error) {
    if (error instanceof InvalidVolumeId) throw notFound(`no such volume: ${error.message}`);
    throw error;
  }
}

/** The instance-root request of an inline volume, or undefined for a persistent one; INVALID_ARGUMENT when malformed. */
function inlineRequest(request: Received<'NodePublishVolume'>): InstanceRootRequest | undefined {
  try {
    return instanceRootRequest(request.volume_context);
  } catch (error) {
    throw invalidArgument((error as Error).message);
  }
}

export class NodeServer {
  private readonly locks = new VolumeLocks();
  private readonly mounters: Record<'local' | 'lustre', Mounter>;
  private readonly unmounter: MountCommands;
  private reporting: Promise<void> | undefined;
  private reportAgain = false;

  constructor(private readonly options: NodeOptions) {
    if (!options.nodeId) throw invalidArgument('node ID is required');
    this.mounters = {
      local: new LocalMounter(options.runner, options.table),
      lustre: new LustreMounter(options.runner, options.table),
    };
    this.unmounter = new MountCommands(options.runner, options.table);
  }

  handlers(): TypedHandlers<NodeDefinition> {
    return {
      NodeGetInfo: () => this.getInfo(),
      NodeGetCapabilities: () =>
        Promise.resolve({ capabilities: NODE_CAPABILITIES.map((type) => ({ rpc: { type } })) }),
      NodeStageVolume: (request) => this.stage(request),
      NodeUnstageVolume: (request) => this.unstage(request),
      NodePublishVolume: (request) => this.publish(request),
      NodeUnpublishVolume: (request) => this.unpublish(request),
      NodeGetVolumeStats: (request) => this.stats(request),
    };
  }

  private getInfo(): Promise<Reply<'NodeGetInfo'>> {
    const segments: Record<string, string> = {};
    if (this.options.region) segments[TOPOLOGY_REGION_KEY] = this.options.region;
    if (this.options.zone) segments[TOPOLOGY_ZONE_KEY] = this.options.zone;
    return Promise.resolve({
      node_id: this.options.nodeId,
      max_volumes_per_node: 0,
      accessible_topology: { segments },
    });
  }

  /** Runs `work` holding the volume; a concurrent call on the same volume gets ABORTED. */

  private async stage(request: Received<'NodeStageVolume'>): Promise<Reply<'NodeStageVolume'>> {
    requiredString(request, 'volume_id');
    const staging = requiredString(request, 'staging_target_path');
    checkCapability(request.volume_capability, 'volume_capability');
    const volume = volumeOf(request); // after the argument checks: a missing argument is INVALID_ARGUMENT whatever the ID
    return this.locks.exclusive(volume.volumeId, async () => {
      await this.stageFilesystem(await this.options.resolver.resolve(volume), staging);
      return {};
    });
  }

  /** Mounts an instance's filesystem at `staging` (no-op when it is mounted there already). */
  private async stageFilesystem(
    location: Pick<InstanceLocation, 'backend' | 'mountSource'>,
    staging: string,
  ): Promise<void> {
    await mkdir(staging, { recursive: true });
    if (location.backend !== 'local') return this.mounters[location.backend].stage(location.mountSource, staging);
    // The directory as the host resolves it, which must stay within the allowed roots; what is
    // mounted must be what was checked (a symlink swapped in between is caught).
    const source = await directoryWithin(location.mountSource, this.options.localRoots, 'the instance directory');
    await this.mountChecked(source, staging, () => this.mounters.local.stage(source, staging));
  }

  /**
   * An inline volume of a Kmesh pod (lib/instance-volume.ts): the instance's filesystem is mounted
   * once per node under instanceMountDir (kept for the next pod, as a staged volume would be),
   * and its root bound into the pod. Not a DataFlow publication: nothing is counted.
   */
  private async publishInstanceRoot(
    root: InstanceRootRequest,
    target: string,
    readOnly: boolean,
  ): Promise<Reply<'NodePublishVolume'>> {
    return this.locks.exclusive(`instance:${root.namespace}/${root.instance}`, async () => {
      const location = await this.options.resolver.instance(root.namespace, root.instance);
      // By UID: an instance made again under the same name (another mount source) gets a mount of its own.
      const staging = inside(this.options.instanceMountDir, root.namespace, root.instance, location.uid);
      await this.stageFilesystem(location, staging);
      await mkdir(target, { recursive: true });
      // The staging directory is the plugin's own (no one else can plant a symlink there).
      await this.mounters[location.backend].publish(staging, target, readOnly);
      return {};
    });
  }

  private async unstage(request: Received<'NodeUnstageVolume'>): Promise<Reply<'NodeUnstageVolume'>> {
    const volumeId = requiredString(request, 'volume_id');
    const staging = requiredString(request, 'staging_target_path');
    return this.locks.exclusive(volumeId, async () => {
      await this.unmounter.unmount(staging);
      return {};
    });
  }

  private async publish(request: Received<'NodePublishVolume'>): Promise<Reply<'NodePublishVolume'>> {
    requiredString(request, 'volume_id');
    const root = inlineRequest(request);
    const staging = root ? '' : requiredString(request, 'staging_target_path');
    const target = requiredString(request, 'target_path');
    const capability = checkCapability(request.volume_capability, 'volume_capability');
    const readOnly = request.readonly || READ_ONLY_MODES.has(capability.access_mode?.mode ?? '');
    if (root) return this.publishInstanceRoot(root, target, readOnly);
    const volume = volumeOf(request);
    return this.locks.exclusive(volume.volumeId, async () => {
      if (!(await this.options.table.isMountPoint(staging)))
        throw failedPrecondition(`volume ${volume.volumeId} is not staged at ${staging}: call NodeStageVolume first`);
      const location = await this.options.resolver.resolve(volume);
      // Created if missing (a new DataFlow's access point); a symlink written into the filesystem
      // must not lead the bind mount out of it.
      const source = await directoryWithin(
        inside(staging, location.accessPoint, volume.subPath),
        [staging],
        `the access point of volume ${volume.volumeId}`,
      );
      await mkdir(target, { recursive: true });
      await this.mountChecked(source, target, () => this.mounters[location.backend].publish(source, target, readOnly));
      const owner = `${volume.namespace}/${volume.virtualCopy !== undefined ? `VirtualCopy/${volume.virtualCopy}` : `DataFlow/${volume.dataFlow}`}`;
      await this.options.publications.add({ volumeId: volume.volumeId, owner, target });
      this.scheduleReport();
      return {};
    });
  }

  /** Runs `mount`, then checks `target` shows `source`'s directory; if not, unmounts it and fails. */
  private async mountChecked(source: string, target: string, mount: () => Promise<void>): Promise<void> {
    const expected = await identity(source);
    await mount();
    try {
      await assertMountOf(target, expected, `mounting ${source}`);
    } catch (error) {
      await this.unmounter.unmount(target);
      throw error;
    }
  }

  /**
   * Reports this node's publication counts in the background, so the pod's mount never waits for
   * it. One report runs at a time; calls meanwhile are folded into one more report after it. A
   * failed report is logged; the next publish or unpublish reports again.
   */
  private scheduleReport(): void {
    if (this.reporting) {
      this.reportAgain = true;
      return;
    }
    this.reporting = (async () => {
      do {
        this.reportAgain = false;
        try {
          await this.options.reporter.report(await this.options.publications.counts());
        } catch (error) {
          this.options.log.warn(
            { err: error },
            'could not report publication counts; the next publish or unpublish retries',
          );
        }
      } while (this.reportAgain);
    })().finally(() => (this.reporting = undefined));
  }

  /** Resolves once the reports asked for so far are done (for shutdown and tests). */
  async reportsSettled(): Promise<void> {
    while (this.reporting) await this.reporting;
  }

  private async unpublish(request: Received<'NodeUnpublishVolume'>): Promise<Reply<'NodeUnpublishVolume'>> {
    const volumeId = requiredString(request, 'volume_id');
    const target = requiredString(request, 'target_path');
    return this.locks.exclusive(volumeId, async () => {
      await this.unmounter.unmount(target);
      // The spec asks the plugin to remove the target it created; only an empty directory, never data.
      await rmdir(target).catch((error: NodeJS.ErrnoException) => {
        if (error.code !== 'ENOENT') throw error;
      });
      // Only a counted publication changes the report (not an inline volume of a Kmesh pod).
      if (await this.options.publications.remove(target)) this.scheduleReport();
      return {};
    });
  }

  private async stats(request: Received<'NodeGetVolumeStats'>): Promise<Reply<'NodeGetVolumeStats'>> {
    requiredString(request, 'volume_id');
    const path = requiredString(request, 'volume_path');
    // An inline volume of a Kmesh pod has an ID the kubelet made (not one of ours): its usage is
    // the instance's filesystem, and it is healthy while mounted.
    const inline = !isKmeshVolumeId(request.volume_id) && (await this.options.table.isMountPoint(path));
    const volume = inline ? undefined : volumeOf(request);
    let fs;
    try {
      fs = await statfs(path);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw notFound(`volume_path ${path} does not exist`);
      // A Lustre client whose servers went away answers ESTALE or ENOTCONN: report, don't fail.
      return { usage: [], volume_condition: { abnormal: true, message: `${path}: ${code ?? String(error)}` } };
    }
    const mounted = inline || (await this.options.table.isMountPoint(path));
    const held = !mounted
      ? undefined
      : volume
        ? await this.options.resolver.condition(volume)
        : { abnormal: false, message: `${path} is mounted` };
    return {
      usage: [
        {
          unit: 'BYTES',
          total: fs.blocks * fs.bsize,
          available: fs.bavail * fs.bsize,
          used: (fs.blocks - fs.bfree) * fs.bsize,
        },
        { unit: 'INODES', total: fs.files, available: fs.ffree, used: fs.files - fs.ffree },
      ],
      volume_condition: held ?? { abnormal: true, message: `${path} is not mounted` },
    };
  }
}
