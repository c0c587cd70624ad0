/**
 * A directory the worker pod mounts: an NFS export or a PersistentVolumeClaim (the operator turns
 * both into a volume at a known path). Regular files are the objects; a file's inode, size and
 * mtime (nanoseconds) stand in for an ETag. Writes go to a temp file beside the target, are
 * fsynced and renamed, so a reader of the export sees the old file or the new one.
 */
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  renameSync,
  rmSync,
  statSync,
  type BigIntStats,
} from 'node:fs';
import { open, rm, stat as statAsync } from 'node:fs/promises';
import { listEntries } from '../engine/names.js';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { PosixLocation } from '../../api/sync-config/worker.js';
import { throttle, type Bandwidth } from '../wire/bandwidth.js';
import type { ObjectHead, Store, StoreObject } from './store.js';

/** Where the store is, as the worker config names it (api/sync-config/worker.ts). */
export type PosixSource = PosixLocation;

const TEMP_PREFIX = '.kmesh-tmp-';
let temps = 0;

const etagOf = (st: BigIntStats): string => `${st.ino}:${st.size}:${st.mtimeNs}`;

async function* files(root: string, prefix = ''): AsyncGenerator<string> {
  // Names that are not UTF-8 cannot be keys (sync/engine/names.ts): left out.
  for (const entry of listEntries(join(root, prefix))) {
    if (entry.name.startsWith(TEMP_PREFIX)) continue;
    const key = prefix ? `${prefix}/${entry.name}` : entry.name;
    if (entry.isDirectory) yield* files(root, key);
    else if (entry.isFile) yield key; // symlinks and devices are not objects
  }
}

export function posixStore(source: PosixSource, field: string): Store {
  const path = (key: string) => join(source.dir, key);
  const stat = (key: string): Promise<BigIntStats | undefined> =>
    statAsync(path(key), { bigint: true }).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return undefined;
      throw error;
    });
  return {
    kind: 'posix',
    async *list(): AsyncIterable<StoreObject> {
      let root;
      try {
        root = await statAsync(source.dir);
      } catch (error) {
        throw new Error(`${field}: the mounted source ${source.dir} cannot be read: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (!root.isDirectory()) throw new Error(`${field}: the mounted source ${source.dir} is not a directory`);
      for await (const key of files(source.dir)) {
        const st = await stat(key);
        if (!st?.isFile()) continue; // gone (or replaced) since the directory was read
        yield { key, sizeBytes: Number(st.size), etag: etagOf(st), mtimeMs: Number(st.mtimeMs) };
      }
    },
    read(key: string): Promise<Readable> {
      return Promise.resolve(createReadStream(path(key)));
    },
    async head(key: string): Promise<ObjectHead | undefined> {
      const st = await stat(key);
      return st?.isFile() ? { etag: etagOf(st), sizeBytes: Number(st.size) } : undefined;
    },
    async write(key: string, file: string, _sizeBytes: number, bandwidth?: Bandwidth): Promise<string> {
      const target = path(key);
      mkdirSync(dirname(target), { recursive: true });
      const tmp = join(dirname(target), `${TEMP_PREFIX}${process.pid}-${temps++}`);
      try {
        await pipeline(createReadStream(file), throttle(bandwidth), createWriteStream(tmp));
        const handle = await open(tmp, 'r+');
        await handle.sync().finally(() => handle.close());
        renameSync(tmp, target);
      } catch (error) {
        rmSync(tmp, { force: true });
        throw error;
      }
      return etagOf(statSync(target, { bigint: true }));
    },
    remove(key: string): Promise<void> {
      return rm(path(key), { force: true });
    },
  };
}
