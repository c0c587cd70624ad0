/**
 * Writes the generated API files (CRDs and TypeScript types) from api/v1alpha1/*.ts, the chart's
 * copies of the CRDs and RBAC rules (hack/chart-files.ts), and the TypeScript types of the
 * proto/ definitions (hack/proto-types.ts), removing type files a .proto no longer produces.
 * Usage: tsx hack/gen-api.ts [--check]   (--check: exit 1 listing stale files, write nothing)
 */
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generatedFiles } from '../api/generate.js';
import { chartFiles } from './chart-files.js';
import { scriptFlags } from '../lib/flags.js';
import { obsoleteProtoTypeFiles, protoTypeFiles } from './proto-types.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const check = scriptFlags(
  'usage: tsx hack/gen-api.ts [--check]',
  { check: { type: 'boolean', help: 'list stale files and exit 1, write nothing' } },
  (flags) => flags.given('check'),
);
const stale: string[] = [];

const protoTypes = protoTypeFiles();
for (const file of [...generatedFiles(), ...chartFiles(), ...protoTypes]) {
  const target = join(root, file.path);
  const current = await readFile(target, 'utf8').catch(() => undefined);
  if (current === file.content) continue;
  stale.push(file.path);
  if (!check) {
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.content);
  }
}

for (const path of obsoleteProtoTypeFiles(protoTypes)) {
  stale.push(path);
  if (!check) await rm(join(root, path));
}

if (check && stale.length) {
  console.error(`stale generated files (run npm run generate): ${stale.join(', ')}`);
  process.exit(1);
}
console.log(stale.length ? `${check ? 'stale' : 'wrote'}: ${stale.join(', ')}` : 'generated files are up to date');
