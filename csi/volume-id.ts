/**
 * Volume IDs: `v1/<namespace>/<instance>/<dataFlow>[/<subPath>][/@<tag>]`, e.g.
 * `v1/ml/aws-east/ml-data/@3f2a...` or `v1/ml/aws-east/pvc-1f2e/shared/models`. A volume made from
 * a snapshot or another volume lives in a VirtualCopy instead: `v1/<ns>/<instance>/copy:<name>[/...]`
 * (object names never hold a colon, so the two cannot be confused). The tag tells apart
 * volumes that share a DataFlow's root (CSI needs every volume's ID to be its own); a segment
 * starting with `@` can never be part of a sub-path. The ID alone says where the data is, so a restarted
 * plugin needs no memory to find it. Every RPC parses the ID it gets; parsing refuses anything that
 * could point outside the DataFlow's access point (`..`, `.`, empty or absolute segments).
 */
import { isDnsLabel, isDnsSubdomain } from '../api/v1alpha1/index.js';

/** CSI asks plugins to keep IDs within the general 128-byte string limit that every CO supports. */
export const MAX_VOLUME_ID_BYTES = 128;
const VERSION = 'v1';
const PATH_SEGMENT = /^[A-Za-z0-9_][A-Za-z0-9._-]*$/;
const TAG = /^@([a-f0-9]{8,40})$/;
const COPY_PREFIX = 'copy:';

/** Where a volume lives. */
export interface VolumeRef {
  namespace: string;
  instance: string;
  /** The DataFlow whose access point holds the volume; '' when it is a VirtualCopy's. */
  dataFlow: string;
  /** The VirtualCopy whose access point holds the volume (restored or cloned volumes). */
  virtualCopy?: string;
  /** Path inside the DataFlow's access point, without leading slash; '' for the whole DataFlow. */
  subPath: string;
  /** Distinguishes volumes that share a DataFlow's root (hex). */
  tag?: string;
}

/** A volume ID that is not one of ours, or is malformed; `reason` says which part and why. */
export class InvalidVolumeId extends Error {
  constructor(
    readonly volumeId: string,
    readonly reason: string,
  ) {
    super(`volume_id "${volumeId.slice(0, 200)}" ${reason}`);
    this.name = 'InvalidVolumeId';
  }
}

function checkSubPath(subPath: string, volumeId: string): void {
  if (!subPath) return;
  for (const segment of subPath.split('/')) {
    if (segment === '..' || segment === '.')
      throw new InvalidVolumeId(volumeId, `has a "${segment}" path segment: sub-paths stay inside the DataFlow`);
    if (!segment) throw new InvalidVolumeId(volumeId, 'has an empty path segment (// or a trailing /)');
    if (!PATH_SEGMENT.test(segment))
      throw new InvalidVolumeId(
        volumeId,
        `has path segment "${segment}": use letters, digits, '.', '_' and '-', not starting with '.' or '-'`,
      );
  }
}

/** Parses and validates a volume ID; throws InvalidVolumeId naming the problem. */
export function parseVolumeId(volumeId: string): VolumeRef {
  if (!volumeId) throw new InvalidVolumeId(volumeId, 'is empty');
  if (Buffer.byteLength(volumeId) > MAX_VOLUME_ID_BYTES)
    throw new InvalidVolumeId(volumeId, `is longer than ${MAX_VOLUME_ID_BYTES} bytes`);
  const [version, namespace = '', instance = '', owner = '', ...rest] = volumeId.split('/');
  if (version !== VERSION)
    throw new InvalidVolumeId(volumeId, `is not a csi.kmesh.io volume ID (it must start with "${VERSION}/")`);
  if (!isDnsLabel(namespace))
    throw new InvalidVolumeId(volumeId, `has namespace "${namespace}", which is not a DNS label`);
  if (!isDnsSubdomain(instance))
    throw new InvalidVolumeId(volumeId, `has instance "${instance}", which is not a DNS subdomain`);
  const virtualCopy = owner.startsWith(COPY_PREFIX) ? owner.slice(COPY_PREFIX.length) : undefined;
  if (virtualCopy !== undefined && !isDnsSubdomain(virtualCopy))
    throw new InvalidVolumeId(volumeId, `has VirtualCopy "${virtualCopy}", which is not a DNS subdomain`);
  if (virtualCopy === undefined && !isDnsSubdomain(owner))
    throw new InvalidVolumeId(volumeId, `has DataFlow "${owner}", which is not a DNS subdomain`);
  const tag = rest.length ? TAG.exec(rest[rest.length - 1]!)?.[1] : undefined;
  if (tag) rest.pop();
  const subPath = rest.join('/');
  checkSubPath(subPath, volumeId);
  const at = virtualCopy === undefined ? { dataFlow: owner } : { dataFlow: '', virtualCopy };
  return { namespace, instance, ...at, subPath, ...(tag ? { tag } : {}) };
}

/** The ID of `ref`; throws InvalidVolumeId if it would not parse back (e.g. too long). */
export function formatVolumeId(ref: VolumeRef): string {
  const owner = ref.virtualCopy !== undefined ? `${COPY_PREFIX}${ref.virtualCopy}` : ref.dataFlow;
  const id = [
    VERSION,
    ref.namespace,
    ref.instance,
    owner,
    ...(ref.subPath ? [ref.subPath] : []),
    ...(ref.tag ? [`@${ref.tag}`] : []),
  ].join('/');
  parseVolumeId(id);
  return id;
}
