/** The Kmesh version, from package.json (found from the source tree or from dist/). */
import { createRequire } from 'node:module';

export function kmeshVersion(): string {
  const require = createRequire(import.meta.url);
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      return (require(candidate) as { name: string; version: string }).version;
    } catch {
      // source (lib/) and compiled (dist/lib/) layouts sit at different depths
    }
  }
  return 'unknown';
}
