/** Reading fields of a CSI request: a missing one is INVALID_ARGUMENT naming the field. */
import { invalidArgument } from '../lib/errors.js';

export type Request = Record<string, unknown>;

/** The non-empty string in `field`. */
export function requiredString(request: Request, field: string): string {
  const value = request[field];
  if (typeof value !== 'string' || !value) throw invalidArgument(`${field} is required`);
  return value;
}
