/** Finding the proto/ directory from a module: the source tree, dist/ and the image all keep it beside the code. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * How Kmesh's own protocols are loaded with @grpc/proto-loader: field names as in the .proto,
 * 64-bit integers as numbers, enums as names, defaults filled in, the oneof's name set. The types
 * in the generated/ folders are generated with these same options (hack/proto-types.ts).
 */
export const PROTO_LOADER_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
} as const;

/** The absolute path of `proto/<relative>`, searched from this module upward. */
export function protoFile(relative: string): string {
  for (let dir = dirname(fileURLToPath(import.meta.url)); ; dir = dirname(dir)) {
    const candidate = join(dir, 'proto', relative);
    if (existsSync(candidate)) return candidate;
    if (dirname(dir) === dir) throw new Error(`proto/${relative} not found above ${fileURLToPath(import.meta.url)}`);
  }
}
