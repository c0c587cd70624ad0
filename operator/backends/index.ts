/**
 * The filesystem backends, by `spec.backend.type`. Each backend module exports its implementation;
 * `registerBackends()` lists them all in one place, so no import has side effects.
 */
import type { KmeshInstance } from '../../api/v1alpha1/index.js';
import { instanceRootVolume } from '../../lib/instance-volume.js';
import type { OperatorSettings } from '../settings.js';
import type { BackendContext, FilesystemAccess, FilesystemBackend, Refusal } from './backend.js';
import { localBackend } from './local.js';
import { lustreBackend } from './lustre.js';

const backends = new Map<string, FilesystemBackend>();
/** The pod volume that holds the instance's filesystem. */
const DATA_VOLUME = 'data';

/** Adds `backend`; a second backend for the same type is a programming error. */
export function registerBackend(backend: FilesystemBackend): void {
  if (backends.has(backend.type)) throw new Error(`two filesystem backends for type ${backend.type}`);
  backends.set(backend.type, backend);
}

export function registerBackends(): void {
  if (backends.size) return;
  registerBackend(localBackend);
  registerBackend(lustreBackend);
}

/** The backend for `type`; the error names the types that exist. */
export function backendFor(type: string): FilesystemBackend {
  const backend = backends.get(type);
  if (!backend)
    throw new Error(
      `no filesystem backend for type "${type}"; known: ${[...backends.keys()].join(', ') || 'none registered'}`,
    );
  return backend;
}

/** Every child kind any backend creates (the KmeshInstance controller caches them all). */
export function backendChildTypes(): FilesystemBackend['childTypes'][number][] {
  const seen = new Map<string, FilesystemBackend['childTypes'][number]>();
  for (const backend of backends.values()) for (const type of backend.childTypes) seen.set(type.plural, type);
  return [...seen.values()];
}

const contextOf = (
  instance: KmeshInstance,
  settings: OperatorSettings,
  instances: readonly KmeshInstance[],
): BackendContext => ({
  instance,
  settings,
  observed: () => [],
  instances: () => instances,
});

/**
 * Why no pod may reach `instance`'s filesystem (e.g. a host directory outside the allowed roots);
 * every controller that would mount it checks this first and creates nothing when it refuses.
 */
export function filesystemRefusal(
  instance: KmeshInstance,
  settings: OperatorSettings,
  instances: readonly KmeshInstance[],
): Refusal | undefined {
  return backendFor(instance.spec.backend.type ?? 'local').unsafe(contextOf(instance, settings, instances));
}

/**
 * How a Kmesh pod (gateway, sync worker, task pod) reaches `instance`'s filesystem at `mountPath`:
 * an inline volume of the Kmesh CSI driver, whatever the backend (lib/instance-volume.ts). Callers
 * check filesystemRefusal first.
 */
export function filesystemAccess(
  instance: KmeshInstance,
  settings: OperatorSettings,
  mountPath: string,
): FilesystemAccess {
  const nodeName = backendFor(instance.spec.backend.type ?? 'local').nodeFor(contextOf(instance, settings, []));
  return {
    volumes: [instanceRootVolume(DATA_VOLUME, settings.csiDriverName, instance.metadata.name!)],
    volumeMounts: [{ name: DATA_VOLUME, mountPath }],
    ...(nodeName ? { nodeName } : {}),
  };
}
