/** Reading fields of a CSI request: a missing one is INVALID_ARGUMENT naming the field. */
import { invalidArgument } from '../lib/errors.js';

/** An untyped request, for handlers not yet typed by csi/generated/. */
export type Request = Record<string, unknown>;

/** The non-empty string in `field` (a field of the request's type, when it is typed). */
export function requiredString<R extends object>(request: R, field: keyof R & string): string {
  const value: unknown = request[field];
  if (typeof value !== 'string' || !value) throw invalidArgument(`${field} is required`);
  return value;
}
