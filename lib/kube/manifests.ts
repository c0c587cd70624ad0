/**
 * Reading YAML manifest files (one or many documents each) into objects in the shape
 * @kubernetes/client-node's typed APIs expect: built-in kinds such as CustomResourceDefinition are
 * converted to its models (x-kubernetes-validations becomes x_kubernetes_validations, ...), which
 * its serializer needs to send them back intact; custom kinds pass through unchanged.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadAllYaml, type KubernetesObject } from '@kubernetes/client-node';

/** Every non-empty document of a YAML file; a syntax error names the file. */
export async function readManifestFile(path: string): Promise<KubernetesObject[]> {
  const text = await readFile(path, 'utf8');
  try {
    return (loadAllYaml(text) as Array<KubernetesObject | null | undefined>).filter((o): o is KubernetesObject => o !== null && o !== undefined);
  } catch (error) {
    throw new Error(`${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** The `.yaml` files of a directory, sorted by name, with their objects. */
export async function readManifestDir(dir: string): Promise<Array<{ file: string; objects: KubernetesObject[] }>> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  return Promise.all(files.map(async (file) => ({ file, objects: await readManifestFile(join(dir, file)) })));
}
