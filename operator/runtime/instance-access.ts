/**
 * How the controllers whose task pods work on an instance's filesystem (Snapshot, VirtualCopy)
 * find a DataFlow's instance, reach its filesystem, and learn why they may not.
 */
import type { DataFlow, KmeshInstance } from '../../api/v1alpha1/index.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import { filesystemAccess, filesystemRefusal } from '../backends/index.js';
import type { FilesystemAccess } from '../backends/backend.js';
import { DATA_MOUNT_PATH } from '../layout.js';
import type { OperatorSettings } from '../settings.js';
import type { ReconcileContext } from './controller.js';

/** A DataFlow and the instance whose filesystem holds it, from the caches (either may be missing). */
export function dataFlowAndInstance(
  context: Pick<ReconcileContext<never>, 'cache'>,
  namespace: string,
  name: string,
): { dataFlow?: DataFlow; instance?: KmeshInstance } {
  const dataFlow = context.cache(RESOURCES.dataFlow).get(`${namespace}/${name}`) as unknown as DataFlow | undefined;
  const instance = dataFlow
    ? (context.cache(RESOURCES.kmeshInstance).get(`${namespace}/${dataFlow.spec.instanceRef.name}`) as unknown as
        KmeshInstance | undefined)
    : undefined;
  return { dataFlow, instance };
}

/** How task pods reach the instance's filesystem: mounted at DATA_MOUNT_PATH. */
export const accessTo = (instance: KmeshInstance, settings: OperatorSettings): FilesystemAccess =>
  filesystemAccess(instance, settings, DATA_MOUNT_PATH);

/** Why no task pod may mount `instance`'s filesystem (backends/index.ts `filesystemRefusal`), as a reason and a message. */
export function instanceRefusal(
  context: Pick<ReconcileContext<never>, 'cache'>,
  instance: KmeshInstance,
  settings: OperatorSettings,
  who = 'task pod',
): { reason: string; message: string } | undefined {
  const refused = filesystemRefusal(
    instance,
    settings,
    context.cache(RESOURCES.kmeshInstance).list() as unknown as KmeshInstance[],
  );
  return (
    refused && {
      reason: refused.reason,
      message: `KmeshInstance ${instance.metadata.namespace}/${instance.metadata.name} is refused, so no ${who} mounts it: ${refused.message}`,
    }
  );
}
