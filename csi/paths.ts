/** Joining paths under a root without ever leaving it (defence in depth after volume ID parsing). */
import { resolve, sep } from 'node:path';
import { invalidArgument } from '../lib/errors.js';

/** `base` joined with `parts` (leading slashes ignored); refuses a result outside `base`. */
export function inside(base: string, ...parts: string[]): string {
  const root = resolve(base);
  const path = resolve(root, ...parts.map((p) => p.replace(/^\/+/, '')));
  if (path !== root && !path.startsWith(root + sep)) throw invalidArgument(`path ${parts.join('/')} leaves ${root}`);
  return path;
}
