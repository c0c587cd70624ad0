/**
 * Another site's gateway as the origin of a cached tree, through the read path of the sync
 * protocol (sync/wire/read-client.ts). A read session sees one published version: asking for the
 * root polls the origin (at most every `refreshMs`, one small call) and opens a new session only
 * when the origin has a new version; the previous session stays open a while for fetches of the
 * version still being read.
 */
import type { Hash } from '../../sync/engine/manifest.js';
import type { ChannelOptions, PeerTarget } from '../../sync/wire/channel.js';
import { openRead, type RemoteReader } from '../../sync/wire/read-client.js';
import type { FetchedChunk, Origin } from './origin.js';

/** How long a replaced session stays open for reads already under way. */
const RETIRE_MS = 60_000;

export class PeerOrigin implements Origin {
  /** read-client.ts opens, decompresses and hashes every chunk before handing it out. */
  readonly verified = true;
  private reader: Promise<RemoteReader> | undefined;
  private openedAt = 0;
  private readonly retiring = new Set<NodeJS.Timeout>();

  constructor(
    private readonly target: PeerTarget,
    private readonly options: ChannelOptions,
    private readonly refreshMs = 1000,
  ) {}

  private session(): Promise<RemoteReader> {
    if (!this.reader) {
      const opening = openRead(this.target, this.options);
      this.reader = opening;
      this.openedAt = Date.now();
      opening.catch(() => {
        if (this.reader === opening) this.reader = undefined;
      });
    }
    return this.reader;
  }

  async root(): Promise<Hash> {
    if (this.reader && Date.now() - this.openedAt >= this.refreshMs) {
      const current = await this.reader;
      this.openedAt = Date.now();
      if ((await current.currentRoot()) === current.root) return current.root;
      const old = this.reader;
      this.reader = undefined;
      const timer = setTimeout(() => {
        this.retiring.delete(timer);
        void old.then((r) => r.close()).catch(() => undefined);
      }, RETIRE_MS);
      timer.unref();
      this.retiring.add(timer);
    }
    return (await this.session()).root;
  }

  async nodes(hashes: Hash[]): Promise<Map<Hash, Buffer>> {
    return (await this.session()).getNodes(hashes);
  }

  async *chunks(hashes: Hash[]): AsyncIterable<FetchedChunk> {
    yield* (await this.session()).fetchChunks(hashes);
  }

  close(): void {
    for (const timer of this.retiring) clearTimeout(timer);
    void this.reader?.then((r) => r.close()).catch(() => undefined);
    this.reader = undefined;
  }
}
