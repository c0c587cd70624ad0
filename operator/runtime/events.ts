/**
 * Kubernetes Events (events.k8s.io/v1) about Kmesh objects. A repeat of the same reason and note
 * for the same object within SERIES_WINDOW_MS bumps the series count of the first Event instead of
 * creating another, as client-go's recorder does. Recording never fails a reconcile.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../../lib/logging.js';
import { RESOURCES } from '../../lib/kube/resources.js';
import type { KubeObject } from '../../api/meta.js';
import type { KubeClient } from '../../lib/kube/rest.js';

const SERIES_WINDOW_MS = 10 * 60_000;
const MAX_NOTE_LENGTH = 1024;

/** MicroTime, the format Event timestamps require. */
export function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class EventRecorder {
  private readonly recent = new Map<string, { name: string; namespace: string; count: number; firstMs: number }>();

  constructor(
    private readonly client: KubeClient,
    private readonly controller: string,
    private readonly instance: string,
    private readonly log: Logger,
  ) {}

  normal(object: KubeObject, reason: string, note: string): Promise<void> {
    return this.record(object, 'Normal', reason, note);
  }

  warning(object: KubeObject, reason: string, note: string): Promise<void> {
    return this.record(object, 'Warning', reason, note);
  }

  private async record(object: KubeObject, type: 'Normal' | 'Warning', reason: string, note: string): Promise<void> {
    const meta = object.metadata ?? {};
    const namespace = meta.namespace ?? 'default';
    const text = note.length > MAX_NOTE_LENGTH ? `${note.slice(0, MAX_NOTE_LENGTH - 3)}...` : note;
    const seriesKey = `${meta.uid ?? ''}|${type}|${reason}|${text}`;
    const now = Date.now();
    try {
      const previous = this.recent.get(seriesKey);
      if (previous && now - previous.firstMs < SERIES_WINDOW_MS) {
        previous.count++;
        await this.client.mergePatch(RESOURCES.event, previous.namespace, previous.name, {
          series: { count: previous.count, lastObservedTime: microTime() },
        });
        return;
      }
      const name = `${meta.name ?? 'object'}.${now.toString(16)}${randomBytes(2).toString('hex')}`;
      await this.client.create(RESOURCES.event, {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { name, namespace },
        eventTime: microTime(),
        reportingController: this.controller,
        reportingInstance: this.instance,
        action: 'Reconcile',
        type,
        reason,
        note: text,
        regarding: {
          apiVersion: object.apiVersion,
          kind: object.kind,
          name: meta.name,
          namespace,
          uid: meta.uid,
          resourceVersion: meta.resourceVersion,
        },
      });
      this.recent.set(seriesKey, { name, namespace, count: 1, firstMs: now });
      if (this.recent.size > 10_000) this.recent.delete(this.recent.keys().next().value!);
    } catch (error) {
      this.log.warn({ err: error, reason }, 'could not record event');
    }
  }
}
