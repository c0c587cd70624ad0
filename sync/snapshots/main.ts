/**
 * `kmesh snapshot take | copy | remove`: one piece of snapshot work on an instance's filesystem,
 * run by the operator as a one-shot pod. The outcome is one line of JSON on stdout and in the
 * `--result` file (the pod's termination message, which is how the operator reads it): the
 * record on success, `{"error": "..."}` on failure.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { materializeCopy, removeTree, takeSnapshot } from './store.js';

const USAGE = `usage:
  kmesh snapshot take   --tree <dir> --into <dir> --name <namespace>/<name> [--result <file>]
  kmesh snapshot copy   --from <dir> --into <dir> [--expect-root <hash>] [--result <file>]
  kmesh snapshot remove --path <dir> [--result <file>]`;

class UsageError extends Error {}

const OPTIONS = {
  tree: { type: 'string' },
  into: { type: 'string' },
  name: { type: 'string' },
  from: { type: 'string' },
  'expect-root': { type: 'string' },
  path: { type: 'string' },
  result: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function required(values: Record<string, string | boolean | undefined>, name: string): string {
  const value = values[name];
  if (typeof value === 'boolean') throw new UsageError(`--${name} takes a value`);
  if (!value) throw new UsageError(`--${name} is required`);
  if (!value.startsWith('/') && name !== 'name') throw new UsageError(`--${name} must be an absolute path, got "${value}"`);
  return value;
}

async function run(action: string | undefined, values: Record<string, string | boolean | undefined>): Promise<unknown> {
  switch (action) {
    case 'take':
      return takeSnapshot({ tree: required(values, 'tree'), into: required(values, 'into'), snapshot: required(values, 'name') });
    case 'copy':
      return materializeCopy({ from: required(values, 'from'), into: required(values, 'into'), ...(typeof values['expect-root'] === 'string' ? { expectRoot: values['expect-root'] } : {}) });
    case 'remove':
      removeTree(required(values, 'path'));
      return { removed: values['path'] };
    default:
      throw new UsageError(action ? `unknown action "${action}"` : 'an action is required');
  }
}

export async function snapshotMain(argv: string[]): Promise<number> {
  let result: string | undefined;
  const report = (outcome: unknown) => {
    const line = JSON.stringify(outcome);
    console.log(line);
    if (result) writeFileSync(result, line);
  };
  try {
    const { positionals, values } = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
    result = values.result;
    if (values.help) {
      console.log(USAGE);
      return 0;
    }
    if (positionals.length > 1) throw new UsageError(`unexpected arguments: ${positionals.slice(1).join(' ')}`);
    report(await run(positionals[0], values));
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    const usage = error instanceof UsageError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS') === true;
    console.error(`kmesh snapshot: ${message}${usage ? `\n${USAGE}` : ''}`);
    if (result) writeFileSync(result, JSON.stringify({ error: message }));
    return usage ? 2 : 1;
  }
}
