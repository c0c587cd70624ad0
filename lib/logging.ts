/**
 * Structured JSON logs (pino) for every component. One root logger per process; modules take a
 * child with `component` (and `object=<namespace>/<name>` where they act on one). Secrets are
 * redacted by path; never log a Secret's data in the first place.
 */
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = [
  '*.data',
  '*.stringData',
  '*.token',
  '*.password',
  '*.secretAccessKey',
  '*.accountKey',
  'headers.authorization',
];

let root: Logger | undefined;

/** The process's root logger; level from KMESH_LOG_LEVEL (default info; "silent" for none). */
export function rootLogger(): Logger {
  root ??= pino({
    level: process.env['KMESH_LOG_LEVEL'] ?? 'info',
    base: { pid: process.pid },
    redact: { paths: REDACT, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
  return root;
}

/** A child logger for one module. */
export function loggerFor(component: string, fields: Record<string, unknown> = {}): Logger {
  return rootLogger().child({ component, ...fields });
}
