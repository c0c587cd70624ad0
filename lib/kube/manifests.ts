/** Reading YAML manifest files (one or many documents each) into objects, as JSON on the wire. */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { WireObject } from './rest.js';

/** Every non-empty document of a YAML file; a syntax error names the file. */
export async function readManifestFile(path: string): Promise<WireObject[]> {
  const objects: WireObject[] = [];
  for (const document of parseAllDocuments(await readFile(path, 'utf8'))) {
    if (document.errors.length) throw new Error(`${path}: ${document.errors[0]!.message}`);
    const value: unknown = document.toJS();
    if (value !== null && value !== undefined) objects.push(value as WireObject);
  }
  return objects;
}

/** The `.yaml` files of a directory, sorted by name, with their objects. */
export async function readManifestDir(dir: string): Promise<Array<{ file: string; objects: WireObject[] }>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(files.map(async (file) => ({ file, objects: await readManifestFile(join(dir, file)) })));
}
