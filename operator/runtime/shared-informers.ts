/**
 * Informers shared by the controllers of one operator: one list-and-watch per kind, namespace,
 * label selector and index, however many controllers cache that kind. Each controller subscribes
 * its own handler. Without sharing, every event of a kind two controllers cache (gateway
 * Deployments, ConfigMaps, KmeshInstances) was sent, decoded and stored twice.
 */
import type { Logger } from '../../lib/logging.js';
import type { KubeClient, ResourceType, WireObject } from '../../lib/kube/rest.js';
import { Informer } from './informer.js';

export interface SharedInformersOptions {
  client: KubeClient;
  log: Logger;
  /** Only this namespace; all when unset. */
  namespace?: string;
  watchTimeoutSeconds?: number;
}

export interface InformerSpec {
  type: ResourceType;
  /** Overrides the operator-wide namespace. */
  namespace?: string;
  labelSelector?: string;
  indexLabel?: string;
}

export class SharedInformers {
  private readonly informers = new Map<string, Informer<WireObject>>();

  constructor(private readonly options: SharedInformersOptions) {}

  /** The informer for `spec`, made on first use. */
  get(spec: InformerSpec): Informer<WireObject> {
    const namespace = spec.namespace ?? this.options.namespace;
    const key = [
      spec.type.group,
      spec.type.version,
      spec.type.plural,
      namespace ?? '',
      spec.labelSelector ?? '',
      spec.indexLabel ?? '',
    ].join('|');
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new Informer<WireObject>({
        client: this.options.client,
        type: spec.type,
        log: this.options.log.child({
          informer: spec.type.plural,
          ...(spec.labelSelector ? { labelSelector: spec.labelSelector } : {}),
        }),
        ...(namespace ? { namespace } : {}),
        ...(spec.labelSelector ? { labelSelector: spec.labelSelector } : {}),
        ...(spec.indexLabel ? { indexLabel: spec.indexLabel } : {}),
        ...(this.options.watchTimeoutSeconds ? { watchTimeoutSeconds: this.options.watchTimeoutSeconds } : {}),
      });
      this.informers.set(key, informer);
    }
    return informer;
  }
}
