/**
 * `kmesh snapshot take | copy | remove`: one piece of snapshot work on an instance's filesystem,
 * run by the operator as a one-shot pod. The outcome is one line of JSON on stdout and in the
 * `--result` file (the pod's termination message, which is how the operator reads it): the
 * record on success, `{"error": "..."}` on failure.
 */
import { writeFileSync } from 'node:fs';
import { parseFlags, UsageError, type FlagSpecs, type ParsedFlags } from '../../lib/flags.js';
import { materializeCopy, removeTree, takeSnapshot } from './store.js';

const USAGE = `usage:
  kmesh snapshot take   --tree <dir> --into <dir> --name <namespace>/<name> [--result <file>]
  kmesh snapshot copy   --from <dir> --into <dir> [--expect-root <hash>] [--result <file>]
  kmesh snapshot remove --path <dir> [--result <file>]`;

const FLAGS = {
  tree: { help: 'the tree to snapshot' },
  into: { help: 'where the snapshot or copy goes' },
  name: { help: 'the Snapshot, as <namespace>/<name>' },
  from: { help: 'the snapshot to copy' },
  'expect-root': { help: 'the merkle root the copy must have' },
  path: { help: 'the tree to remove' },
  result: { help: 'also write the outcome to this file (the pod termination message)' },
} satisfies FlagSpecs;

type Flags = ParsedFlags<typeof FLAGS>;

function required(flags: Flags, name: keyof typeof FLAGS): string {
  const value = flags.value(name);
  if (!value) throw new UsageError(`--${name} is required`);
  if (!value.startsWith('/') && name !== 'name')
    throw new UsageError(`--${name} must be an absolute path, got "${value}"`);
  return value;
}

async function run(action: string | undefined, flags: Flags): Promise<unknown> {
  switch (action) {
    case 'take':
      return takeSnapshot({
        tree: required(flags, 'tree'),
        into: required(flags, 'into'),
        snapshot: required(flags, 'name'),
      });
    case 'copy': {
      const expectRoot = flags.value('expect-root');
      return materializeCopy({
        from: required(flags, 'from'),
        into: required(flags, 'into'),
        ...(expectRoot !== undefined ? { expectRoot } : {}),
      });
    }
    case 'remove':
      removeTree(required(flags, 'path'));
      return { removed: flags.value('path') };
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
    const flags = parseFlags(FLAGS, argv, { maxPositionals: 1 });
    result = flags.value('result');
    if (flags.help) {
      console.log(USAGE);
      return 0;
    }
    report(await run(flags.positionals[0], flags));
    return 0;
  } catch (error) {
    const message = (error as Error).message;
    const usage = error instanceof UsageError;
    console.error(`kmesh snapshot: ${message}${usage ? `\n${USAGE}` : ''}`);
    if (result) writeFileSync(result, JSON.stringify({ error: message }));
    return usage ? 2 : 1;
  }
}
