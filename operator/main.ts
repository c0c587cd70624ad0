/** `kmesh operator`: parse the configuration, run until SIGTERM or SIGINT. */
import { flagHelp, parseFlags, UsageError } from '../lib/flags.js';
import { FLAGS, operatorConfig } from './config.js';
import { startOperator } from './run.js';

export async function main(argv: string[]): Promise<number> {
  let config;
  try {
    const flags = parseFlags(FLAGS, argv, { env: process.env });
    if (flags.help) {
      console.log(flagHelp('usage: kmesh operator [--flag=value ...]', FLAGS));
      return 0;
    }
    config = operatorConfig(flags);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`kmesh operator: ${error.message}`);
      return 2;
    }
    throw error;
  }
  const abort = new AbortController();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) process.once(signal, () => abort.abort());
  let operator;
  try {
    operator = await startOperator(config, abort.signal);
  } catch (error) {
    console.error(`kmesh operator: cannot start: ${(error as Error).message}`);
    return 1;
  }
  await operator.stopped;
  return 0;
}
