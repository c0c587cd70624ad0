/**
 * The worker's side of DataFlow sources: which are due (a `once` source until it succeeds, a cron
 * source on its schedule, and every source on the worker's first pass), ingesting them into
 * `<tree>/<source name>/`, and what each last did, kept in the state directory so a restart
 * neither repeats a `once` ingest nor forgets the last result.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../lib/durable.js';
import type { Logger } from '../../lib/logging.js';
import type { WorkerSource } from '../config.js';
import type { Bandwidth } from '../wire/bandwidth.js';
import { storeFor } from '../stores/index.js';
import { ingest } from '../stores/ingest.js';
import { nextRun, parseSchedule } from '../stores/schedule.js';
import type { SourceStatus } from './status.js';

export class SourceIngester {
  private readonly status = new Map<string, SourceStatus>();

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

  /** Ingests every due source; returns whether any file changed. */
  async run(now = new Date()): Promise<boolean> {
    let changed = false;
    let ran = false;
    for (const [i, source] of this.sources.entries()) {
      if (!this.due(source, now)) continue;
      ran = true;
      const field = `sources[${i}]`;
      let result: SourceStatus['result'];
      try {
        const r = await ingest(await storeFor(source, field), { targetDir: join(this.treeDir, source.name), stateDir: join(this.stateDir, 'sources', source.name), bandwidth: this.bandwidth });
        changed ||= r.files > 0 || r.removed > 0;
        result = r.refused.length
          ? { outcome: 'Failed', message: `${r.refused.length} objects not ingested: ${r.refused.slice(0, 3).join('; ')}`, files: r.files, bytes: r.bytes }
          : { outcome: 'Succeeded', message: `${r.files} new or changed, ${r.removed} removed`, files: r.files, bytes: r.bytes };
        this.log.info({ source: source.name, ...r, refused: r.refused.length }, 'source ingested');
      } catch (error) {
        result = { outcome: 'Failed', message: (error as Error).message, files: 0, bytes: 0 };
        this.log.warn({ source: source.name, err: (error as Error).message }, 'source ingest failed');
      }
      const schedule = parseSchedule(source.schedule);
      const next = nextRun(schedule, now);
      this.status.set(source.name, { name: source.name, lastIngest: now.toISOString(), ...(next ? { nextIngest: next.toISOString() } : {}), result });
    }
    if (ran) writeFileAtomic(join(this.stateDir, 'sources.json'), JSON.stringify(this.list()));
    return changed;
  }
}
