/**
 * What changed in a tree since the last pass, so an idle DataFlow costs no scan. A feed gives
 * hints, never the truth: the worker still scans with its index when anything may have changed,
 * and scans everything whenever the feed cannot vouch for completeness.
 *
 * `ScanEveryPass` is the feed of any POSIX tree (local, NFS): it always asks for a scan.
 * `LustreChangelogFeed` reads the MDTs' changelogs (`lfs changelog`), one cursor per MDT, and
 * clears what a finished pass consumed (`lfs changelog_clear`). A gap in record numbers (records
 * purged before we read them) or a changelog user that is no longer registered means changes may
 * have been missed: then it asks for a full scan.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomic } from '../../lib/durable.js';
import type { CommandRunner } from '../../lib/command.js';

export interface ChangeBatch {
  /** Set when everything must be scanned, with why. */
  rescan?: string;
  /** Paths relative to the tree that may have changed (hints; may include parents). */
  paths: Set<string>;
  /** Records the batch as consumed; call after the pass that used it succeeded. */
  commit(): Promise<void>;
}

export interface ChangeFeed {
  poll(): Promise<ChangeBatch>;
}

export const scanEveryPass: ChangeFeed = {
  poll: () =>
    Promise.resolve({
      rescan: 'no change feed for this backend',
      paths: new Set<string>(),
      commit: () => Promise.resolve(),
    }),
};

/** One changelog record as `lfs changelog` prints it. */
export interface ChangelogRecord {
  index: number;
  type: string;
  /** Target FID (t=). */
  target?: string;
  /** Parent FID (p=) and name, for namespace operations. */
  parent?: string;
  name?: string;
  /** Rename source: its parent FID (sp=) and old name. */
  sourceParent?: string;
  sourceName?: string;
}

/**
 * Parses `lfs changelog` output, e.g.
 * `2 01CREAT 15:15:36.687592024 2018.01.09 0x0 t=[0x200000402:0x2:0x0] ef=0xf u=500:500 nid=10.0.0.1@tcp p=[0x200000402:0x1:0x0] chloe.jpg`
 * and renames, `… p=[<new parent>] <new name> s=[<fid>] sp=[<old parent>] <old name>`.
 */
export function parseChangelog(text: string): ChangelogRecord[] {
  const records: ChangelogRecord[] = [];
  for (const line of text.split('\n')) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 2 || !/^\d+$/.test(fields[0]!)) continue;
    const record: ChangelogRecord = { index: Number(fields[0]), type: fields[1]!.replace(/^\d+/, '') };
    for (let i = 2; i < fields.length; i++) {
      const f = fields[i]!;
      const fid = /^(t|p|s|sp)=\[(.+)\]$/.exec(f);
      if (!fid) continue;
      const [, key, value] = fid;
      if (key === 't') record.target = value;
      else if (key === 'p') {
        record.parent = value;
        record.name = fields[i + 1];
      } else if (key === 'sp') {
        record.sourceParent = value;
        record.sourceName = fields[i + 1];
      }
    }
    records.push(record);
  }
  return records;
}

export interface LustreFeedOptions {
  runner: CommandRunner;
  /** Where the filesystem is mounted in this pod. */
  mount: string;
  /** MDT names, e.g. kmfs-MDT0000. */
  mdts: string[];
  /** Registered changelog user, e.g. cl1. */
  user: string;
  /** The DataFlow's access point inside the filesystem, e.g. /dataflows/ml-data. */
  treePrefix: string;
  /** Where the per-MDT cursors are kept (written atomically). */
  cursorFile: string;
  timeoutMs?: number;
}

const NULL_FID = '0:0x0:0x0';

export class LustreChangelogFeed implements ChangeFeed {
  constructor(private readonly options: LustreFeedOptions) {}

  private cursors(): Record<string, number> {
    try {
      return JSON.parse(readFileSync(this.options.cursorFile, 'utf8')) as Record<string, number>;
    } catch {
      return {};
    }
  }

  private async lfs(args: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
    const result = await this.options.runner.run('lfs', args, this.options.timeoutMs ?? 60_000);
    return { ok: result.code === 0 && !result.timedOut, stdout: result.stdout, stderr: result.stderr };
  }

  async poll(): Promise<ChangeBatch> {
    const cursors = this.cursors();
    const next = { ...cursors };
    const fids = new Set<string>();
    const names: { parent: string; name: string }[] = [];
    let rescan: string | undefined;
    for (const mdt of this.options.mdts) {
      const from = (cursors[mdt] ?? 0) + 1;
      const out = await this.lfs(['changelog', mdt, String(from)]);
      if (!out.ok) {
        rescan = `cannot read the changelog of ${mdt} (${out.stderr.trim() || 'lfs changelog failed'}); is changelog user ${this.options.user} still registered?`;
        continue;
      }
      const records = parseChangelog(out.stdout);
      if (cursors[mdt] === undefined) rescan ??= `first pass on ${mdt}: no cursor yet`;
      else if (records.length && records[0]!.index > from)
        rescan ??= `records ${from}–${records[0]!.index - 1} of ${mdt} were purged before they were read`;
      for (const r of records) {
        if (r.target && r.target !== NULL_FID) fids.add(r.target);
        if (r.parent && r.name) names.push({ parent: r.parent, name: r.name });
        if (r.sourceParent && r.sourceName) names.push({ parent: r.sourceParent, name: r.sourceName });
        if (r.parent) fids.add(r.parent);
        if (r.sourceParent) fids.add(r.sourceParent);
      }
      next[mdt] = records.length ? records[records.length - 1]!.index : from - 1;
    }
    const paths = new Set<string>();
    if (!rescan && fids.size) {
      const resolved = await this.fid2path([...fids]);
      for (const fid of fids) {
        const path = resolved.get(fid);
        const rel = path === undefined ? undefined : this.relative(path);
        if (rel !== undefined) paths.add(rel);
      }
      for (const { parent, name } of names) {
        const path = resolved.get(parent);
        const rel = path === undefined ? undefined : this.relative(path);
        if (rel !== undefined) paths.add(rel ? `${rel}/${name}` : name);
      }
    }
    return {
      ...(rescan ? { rescan } : {}),
      paths,
      commit: async () => {
        for (const mdt of this.options.mdts) {
          if (next[mdt] !== undefined && next[mdt] !== cursors[mdt])
            await this.lfs(['changelog_clear', mdt, this.options.user, String(next[mdt])]);
        }
        writeFileAtomic(this.options.cursorFile, JSON.stringify(next));
      },
    };
  }

  /** FID → path inside the filesystem (leading "/"); FIDs that no longer resolve are left out. */
  private async fid2path(fids: string[]): Promise<Map<string, string>> {
    const out = await this.lfs(['fid2path', '--print-fid', this.options.mount, ...fids.map((f) => `[${f}]`)]);
    const map = new Map<string, string>();
    for (const line of out.stdout.split('\n')) {
      const m = /^\[(.+?)\]\s+(.*)$/.exec(line.trim());
      if (m) map.set(m[1]!, m[2]!.startsWith('/') ? m[2]! : `/${m[2]}`);
    }
    return map;
  }

  /** A path relative to the DataFlow's tree, or undefined when it is outside it. */
  private relative(path: string): string | undefined {
    const prefix = this.options.treePrefix.replace(/\/$/, '');
    if (path === prefix) return '';
    return path.startsWith(`${prefix}/`) ? path.slice(prefix.length + 1) : undefined;
  }
}
