/** `kmesh operator`: parse the configuration, run until SIGTERM or SIGINT. */
import { ConfigError, FLAGS, parseOperatorConfig } from './config.js';
import { startOperator } from './run.js';

export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help')) {
    console.log(['usage: kmesh operator [--flag=value ...]', '', ...Object.entries(FLAGS).map(([f, s]) => `  --${f.padEnd(26)} ${s.help} [$${s.env}${s.default ? `, default ${s.default || '""'}` : ''}]`)].join('\n'));
    return 0;
  }
  let config;
  try {
    config = parseOperatorConfig(argv, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
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
