/**
 * The versions this site publishes for readers (docs/architecture.md#reads-access-cache): each
 * DataFlow's published.json, loaded when a read session opens and loaded again only once the file
 * has changed (mtime, inode or size), and the view of it that each peer's `paths` allow, built
 * once per version. A view serves the manifest nodes reachable from its root and the chunks of
 * its files, read from the DataFlow's tree and checked against their hash before they are sent.
 */
import { statSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { failedPrecondition, internal, notFound } from '../../lib/errors.js';
import { chunkHash } from '../engine/chunker.js';
import type { Hash, NodeSet } from '../engine/manifest.js';
import { chunkLocations, reachableNodes, readPublished, type PublishedVersion } from '../engine/published.js';
import type { ChunkLocation } from '../engine/scan.js';
import { subtreeVersion } from '../engine/subtree.js';
import type { ServedDataFlow } from './sites.js';

/** Reads chunks of one view; `close()` releases the file it keeps open. */
export interface ViewChunkReader {
  /**
   * The chunk's bytes, checked against its hash. NOT_FOUND when the chunk is not in the view, or
   * when its file no longer holds it ("changed since version <root>").
   */
  read(hash: Hash): Promise<Buffer>;
  close(): Promise<void>;
}

/** One peer's view of one published version: what a read session serves. */
export class PublishedView {
  /** Chunk hash → where it lies in the tree; built on the first chunk asked for. */
  private locations: Map<Hash, ChunkLocation> | undefined;

  constructor(
    /** "<namespace>/<name>" of the DataFlow. */
    readonly dataFlow: string,
    readonly treeDir: string,
    /** The view's root: the published root, or the root of the peer's `paths` view of it. */
    readonly root: Hash,
    /** The manifest of the view (it may hold nodes outside it; only reachable ones are served). */
    private readonly manifest: NodeSet,
    /** The nodes reachable from `root`, with their encoded bytes. */
    private readonly nodes: Map<Hash, Buffer>,
  ) {}

  /** A manifest node of this view, encoded; NOT_FOUND (naming it) when the view does not hold it. */
  node(hash: Hash): Buffer {
    const bytes = this.nodes.get(hash);
    if (!bytes) throw notFound(`manifest node ${hash} is not in version ${this.root} of dataflow ${this.dataFlow}`);
    return bytes;
  }

  /** Where a chunk of this view's files lies; NOT_FOUND (naming it) when no file of the view has it. */
  location(hash: Hash): ChunkLocation {
    this.locations ??= chunkLocations(this.manifest, this.root);
    const at = this.locations.get(hash);
    if (!at) throw notFound(`chunk ${hash} is not in version ${this.root} of dataflow ${this.dataFlow}`);
    return at;
  }

  /**
   * A reader of this view's chunks from the tree. The file may have changed since the scan that
   * published the version, so every chunk is hashed before it is handed out.
   */
  reader(): ViewChunkReader {
    let current: { path: string; handle: FileHandle | undefined } | undefined;
    const changed = (hash: Hash, at: ChunkLocation) =>
      notFound(
        `chunk ${hash} changed since version ${this.root}; read the new version (${at.path} no longer holds it at offset ${at.offset})`,
      );
    const handleFor = async (path: string): Promise<FileHandle | undefined> => {
      if (current?.path === path) return current.handle;
      await current?.handle?.close();
      current = { path, handle: undefined };
      try {
        current.handle = await open(join(this.treeDir, path), 'r');
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'ENOTDIR')
          throw internal(`cannot open ${path} of dataflow ${this.dataFlow}: ${(error as Error).message}`, error);
      }
      return current.handle; // undefined: the file is gone, or is no longer a file
    };
    return {
      read: async (hash) => {
        const at = this.location(hash);
        const handle = await handleFor(at.path);
        if (!handle) throw changed(hash, at);
        const data = Buffer.allocUnsafe(at.sizeBytes);
        let done = 0;
        while (done < at.sizeBytes) {
          const { bytesRead } = await handle.read(data, done, at.sizeBytes - done, at.offset + done);
          if (bytesRead === 0) throw changed(hash, at); // the file is shorter now
          done += bytesRead;
        }
        if (chunkHash(data) !== hash) throw changed(hash, at);
        return data;
      },
      close: async () => {
        await current?.handle?.close();
        current = undefined;
      },
    };
  }
}

interface Loaded {
  file: string;
  /** mtime, inode and size of the file when it was read: another stamp means another version. */
  stamp: string;
  version: PublishedVersion;
  /** By peer paths (JSON of the sorted list): each view built once per version. */
  views: Map<string, PublishedView>;
}

/** The published version of every served DataFlow, as the views read sessions get. */
export class Published {
  private readonly loaded = new Map<string, Loaded>();

  /**
   * The view of the DataFlow's published version that a peer with `paths` reads (unset: all of
   * it). FAILED_PRECONDITION when the DataFlow publishes nothing here or nothing is published yet.
   * Loads the file only when it changed since the last call; a file that cannot be read is INTERNAL.
   */
  view(dataFlow: ServedDataFlow, paths: string[] | undefined): PublishedView {
    const loaded = this.load(dataFlow);
    const key = JSON.stringify([...(paths ?? [])].sort());
    let view = loaded.views.get(key);
    if (!view) {
      const { root, nodes } = subtreeVersion(loaded.version, paths);
      view = new PublishedView(dataFlow.name, dataFlow.treeDir, root, nodes, reachableNodes(nodes, root));
      loaded.views.set(key, view);
    }
    return view;
  }

  private load(dataFlow: ServedDataFlow): Loaded {
    const file = dataFlow.publishedFile;
    if (!file)
      throw failedPrecondition(
        `dataflow ${dataFlow.name} publishes no version for reads at this site (its gateway config has no publishedFile)`,
      );
    const st = statSync(file, { throwIfNoEntry: false });
    if (!st) {
      this.loaded.delete(dataFlow.name);
      throw failedPrecondition(
        `dataflow ${dataFlow.name}: nothing published yet (this site's worker writes ${file} after its first scan)`,
      );
    }
    const stamp = `${st.mtimeMs} ${st.ino} ${st.size}`;
    const cached = this.loaded.get(dataFlow.name);
    if (cached?.file === file && cached.stamp === stamp) return cached;
    let version: PublishedVersion;
    try {
      version = readPublished(file);
    } catch (error) {
      throw internal(
        `dataflow ${dataFlow.name}: cannot read the published version: ${(error as Error).message}`,
        error,
      );
    }
    const loaded: Loaded = { file, stamp, version, views: new Map() };
    this.loaded.set(dataFlow.name, loaded);
    return loaded;
  }
}
