/**
 * Building blocks of the sync config documents (worker.ts, gateway.ts) and the one reader that
 * checks a document against its schema: every problem comes back as `<field path>: <what is
 * wrong>`, e.g. `peers[0].direction: "sideways" is not one of push, pull`.
 */
import { z } from 'zod';
import { ENCRYPTION_ALGORITHMS, DEFAULT_ENCRYPTION_ALGORITHM } from '../v1alpha1/data-flow.js';
import { parseDuration } from '../../lib/duration.js';
import { parseByteQuantity } from '../../lib/quantity.js';

/** A string that must be set and not empty. */
export const text = () =>
  z
    .string({ error: (issue) => (issue.input === undefined ? 'required' : 'must be a string') })
    .min(1, { error: 'must not be empty' });

/** An integer in [min, max]. */
export function integer(min: number, max: number) {
  const error = `must be an integer from ${min} to ${max}`;
  return z.int({ error }).min(min, { error }).max(max, { error });
}

/** A TCP port; 0 lets the system pick one (tests). */
export const port = () => integer(0, 65535);

/** The lib parsers prefix their messages with the field; zod adds the path itself. */
const FIELD = '<field>';

/** A transform that reads a value with one of the lib parsers, turning its error into an issue. */
function readWith<T>(parse: (value: T, field: string) => number) {
  return (value: T, context: z.core.$RefinementCtx<T>): number => {
    try {
      return parse(value, FIELD);
    } catch (error) {
      context.addIssue({ code: 'custom', message: (error as Error).message.replace(`${FIELD}: `, '') });
      return z.NEVER;
    }
  };
}

/** A duration such as `10s` or `168h` (lib/duration.ts), read as milliseconds. */
export const durationMs = () =>
  z.string({ error: 'must be a duration such as 30s, 15m or 168h' }).transform(readWith(parseDuration));

/** A byte quantity (lib/quantity.ts: what the CRDs' isQuantity accepts), read as a whole number of bytes. */
export const bytes = () =>
  z
    .union([z.string(), z.number()], { error: 'must be a quantity such as 500M, 100Mi or 1e9' })
    .transform(readWith(parseByteQuantity));

/** `<namespace>/<name>` of a DataFlow. */
export const namespacedName = () => text().regex(/^[^/]+\/[^/]+$/, { error: 'must be <namespace>/<name>' });

/** `host:port`, IPv6 hosts in brackets. */
export const hostPort = () =>
  text().regex(/^[^\s:]+:\d+$|^\[[0-9a-fA-F:]+\]:\d+$/, {
    error: (issue) => `"${String(issue.input)}" is not host:port`,
  });

/** An RFC 3339 time. */
export const time = () =>
  text().refine((value) => !Number.isNaN(Date.parse(value)), {
    error: (issue) => `"${String(issue.input)}" is not an RFC 3339 time`,
  });

/**
 * Encryption of chunks for one DataFlow: the algorithm, and the file (a mounted Secret key) that
 * holds the raw key, which every algorithm but none needs.
 */
export const encryption = () =>
  z
    .strictObject({
      algorithm: z.enum(ENCRYPTION_ALGORITHMS).default(DEFAULT_ENCRYPTION_ALGORITHM),
      keyFile: text().optional(),
    })
    .superRefine((value, context) => {
      if (value.algorithm !== 'none' && value.keyFile === undefined)
        context.addIssue({ code: 'custom', path: ['keyFile'], message: `required: ${value.algorithm} needs the key` });
    });

/** The encryption section as the operator renders it, and as read. */
export type EncryptionDocument = z.input<ReturnType<typeof encryption>>;
export type EncryptionFields = z.output<ReturnType<typeof encryption>>;

/** A path in the order a person reads it: `peers[0].direction`. */
export function fieldPath(path: readonly PropertyKey[]): string {
  return (
    path.map((part, i) => (typeof part === 'number' ? `[${part}]` : `${i ? '.' : ''}${String(part)}`)).join('') ||
    'config'
  );
}

/** Messages for zod's own checks; a schema's own `error` wins over these. */
function message(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type': {
      if (issue.input === undefined) return 'required';
      const names: Record<string, string> = {
        object: 'a mapping',
        array: 'a list',
        boolean: 'true or false',
        int: 'an integer',
      };
      return `must be ${names[issue.expected] ?? `a ${issue.expected}`}`;
    }
    case 'invalid_value':
      return `"${String(issue.input)}" is not one of ${issue.values.map(String).join(', ')}`;
    case 'too_small':
      return issue.origin === 'array'
        ? `must have at least ${String(issue.minimum)} item(s)`
        : `must be at least ${String(issue.minimum)}`;
    case 'too_big':
      return `must be at most ${String(issue.maximum)}`;
    default:
      return undefined;
  }
}

/** The outcome of reading a document: its value, or every problem, each naming its field. */
export type Read<T> = { ok: true; value: T } | { ok: false; problems: string[] };

/** Checks `document` (parsed YAML) against `schema`; defaults filled in, durations and quantities read. */
export function readDocument<S extends z.ZodType>(schema: S, document: unknown): Read<z.output<S>> {
  const result = schema.safeParse(document, { reportInput: true, error: message });
  if (result.success) return { ok: true, value: result.data };
  const problems = result.error.issues.flatMap((issue) =>
    issue.code === 'unrecognized_keys'
      ? issue.keys.map((key) => `${fieldPath([...issue.path, key])}: unknown field`)
      : [`${fieldPath(issue.path)}: ${issue.message}`],
  );
  return { ok: false, problems };
}
