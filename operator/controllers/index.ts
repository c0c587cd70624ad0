/** Every controller the operator runs, in one list. */
import type { KubeObject } from '../../api/meta.js';
import type { ControllerDefinition } from '../runtime/controller.js';
import type { OperatorSettings } from '../settings.js';
import { dataFlowController } from './data-flow/reconcile.js';
import { kmeshInstanceController } from './kmesh-instance/reconcile.js';
import { snapshotController } from './snapshot/reconcile.js';
import { virtualCopyController } from './virtual-copy/reconcile.js';

export function controllers(settings: OperatorSettings): ControllerDefinition<KubeObject>[] {
  return [
    kmeshInstanceController(settings),
    dataFlowController(settings),
    snapshotController(settings),
    virtualCopyController(settings),
  ] as unknown as ControllerDefinition<KubeObject>[];
}
