/**
 * The worker's side of DataFlow sources: which are due (a `once` source until it succeeds, a cron
 * source on its schedule, and every source on the worker's first pass), ingesting them into
 * `<tree>/<source name>/`, writing local changes back on every pass for sources with writeBack
 * (before any ingest, so an ingest never meets an unwritten change it would have to guess about),
 * and what each last did, kept in the state directory so a restart neither repeats a `once` ingest
 * nor forgets the last result.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/durable.js';
import type { Logger } from '../../lib/logging.js';
import type { WorkerSource } from '../config.js';
import type { Bandwidth } from '../wire/bandwidth.js';
import { storeFor } from '../stores/index.js';
import type { Store } from '../stores/store.js';
import { ingest, type ExchangeOptions } from '../stores/ingest.js';
import { writeBack } from '../stores/write-back.js';
import { nextRun, parseSchedule } from '../stores/schedule.js';
import type { SourceStatus, WriteBackStatus } from './status.js';

export class SourceIngester {
  private readonly status = new Map<string, SourceStatus>();
  /** Each source's store client, made once (write-back uses it every pass) and made again after a failure (rotated credentials). */
  private readonly stores = new Map<string, Promise<Store>>();

  constructor(
    private readonly sources: WorkerSource[],
    private readonly treeDir: string,
    private readonly stateDir: string,
    private readonly log: Logger,
    private readonly bandwidth?: Bandwidth,
  ) {
    let saved: SourceStatus[] = [];
    try {
      saved = JSON.parse(readFileSync(join(stateDir, 'sources.json'), 'utf8')) as SourceStatus[];
    } catch {
      // no source ingested yet
    }
    for (const s of sources) this.status.set(s.name, saved.find((x) => x.name === s.name) ?? { name: s.name });
  }

  list(): SourceStatus[] {
    return [...this.status.values()];
  }

  private due(source: WorkerSource, now: Date): boolean {
    const last = this.status.get(source.name)!;
    if (!last.lastIngest || last.result?.outcome !== 'Succeeded') return true;
    const schedule = parseSchedule(source.schedule);
    if (schedule.once) return false;
    const next = nextRun(schedule, new Date(last.lastIngest));
    return next !== undefined && next <= now;
  }

  /** Writes back and ingests every due source; returns whether any file in the tree changed. */
  async run(now = new Date()): Promise<boolean> {
    let changed = false;
    let ran = false;
    for (const [i, source] of this.sources.entries()) {
      const field = `sources[${i}]`;
      const options: ExchangeOptions = {
        targetDir: join(this.treeDir, source.name),
        stateDir: join(this.stateDir, 'sources', source.name),
        bandwidth: this.bandwidth,
        writeBack: source.writeBack,
      };
      if (source.writeBack) {
        const wrote = await this.writeBack(source, field, options, now);
        changed ||= wrote.treeChanged;
        ran ||= wrote.statusChanged;
      }
      if (!this.due(source, now)) continue;
      ran = true;
      let result: SourceStatus['result'];
      try {
        const r = await ingest(await this.store(source, field), options);
        changed ||= r.files > 0 || r.removed > 0;
        result = r.refused.length
          ? {
              outcome: 'Failed',
              message: `${r.refused.length} objects not ingested: ${r.refused.slice(0, 3).join('; ')}`,
              files: r.files,
              bytes: r.bytes,
            }
          : {
              outcome: 'Succeeded',
              message: `${r.files} new or changed, ${r.removed} removed`,
              files: r.files,
              bytes: r.bytes,
            };
        this.log.info({ source: source.name, ...r, refused: r.refused.length }, 'source ingested');
      } catch (error) {
        this.stores.delete(source.name);
        result = { outcome: 'Failed', message: (error as Error).message, files: 0, bytes: 0 };
        this.log.warn({ source: source.name, err: (error as Error).message }, 'source ingest failed');
      }
      const schedule = parseSchedule(source.schedule);
      const next = nextRun(schedule, now);
      const { writeBack: wb } = this.status.get(source.name)!;
      this.status.set(source.name, {
        name: source.name,
        lastIngest: now.toISOString(),
        ...(next ? { nextIngest: next.toISOString() } : {}),
        result,
        ...(wb ? { writeBack: wb } : {}),
      });
    }
    if (ran) {
      mkdirSync(this.stateDir, { recursive: true });
      writeFileAtomic(join(this.stateDir, 'sources.json'), JSON.stringify(this.list()));
    }
    return changed;
  }

  private store(source: WorkerSource, field: string): Promise<Store> {
    let store = this.stores.get(source.name);
    if (!store) {
      store = storeFor(source, field);
      this.stores.set(source.name, store);
    }
    return store;
  }

  /** One write-back of a source; says whether its status moved and whether files in the tree changed (conflicts). */
  private async writeBack(
    source: WorkerSource,
    field: string,
    options: ExchangeOptions,
    now: Date,
  ): Promise<{ statusChanged: boolean; treeChanged: boolean }> {
    const status = this.status.get(source.name)!;
    const before = status.writeBack ?? {
      outcome: 'Succeeded',
      message: 'nothing written back yet',
      files: 0,
      bytes: 0,
      removed: 0,
      conflicts: 0,
    };
    let after: WriteBackStatus;
    let treeChanged = false;
    try {
      const r = await writeBack(await this.store(source, field), options, now);
      treeChanged = r.conflicts.length + r.fetched > 0;
      const conflicts = r.conflicts.length > 0;
      const did = r.uploaded + r.removed + r.conflicts.length > 0;
      const notes = [
        ...(r.refused.length ? [`${r.refused.length} not written back: ${r.refused.slice(0, 3).join('; ')}`] : []),
        ...(conflicts ? [`changed in the source too, kept beside: ${r.conflicts.slice(0, 3).join('; ')}`] : []),
      ];
      after = {
        ...(did
          ? { lastWriteBack: now.toISOString() }
          : before.lastWriteBack
            ? { lastWriteBack: before.lastWriteBack }
            : {}),
        outcome: r.refused.length ? 'Failed' : 'Succeeded',
        message: notes.length
          ? notes.join('; ')
          : did
            ? `${r.uploaded} written, ${r.removed} removed`
            : before.outcome === 'Succeeded'
              ? before.message
              : 'every change is written back',
        files: before.files + r.uploaded,
        bytes: before.bytes + r.bytes,
        removed: before.removed + r.removed,
        conflicts: before.conflicts + r.conflicts.length,
      };
      if (did || r.refused.length)
        this.log.info(
          { source: source.name, ...r, refused: r.refused.length, conflicts: r.conflicts.length },
          'changes written back',
        );
    } catch (error) {
      this.stores.delete(source.name);
      after = { ...before, outcome: 'Failed', message: (error as Error).message };
      this.log.warn({ source: source.name, err: (error as Error).message }, 'write-back failed');
    }
    const statusChanged = JSON.stringify(after) !== JSON.stringify(status.writeBack);
    if (statusChanged) this.status.set(source.name, { ...status, writeBack: after });
    return { statusChanged, treeChanged };
  }
}
