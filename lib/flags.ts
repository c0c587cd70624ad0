/**
 * Command-line flags of every Kmesh command and script, through node:util `parseArgs`: a value
 * as `--name=value` or `--name value`, a boolean as `--name`. A flag's environment variable, then
 * its default, stand in for a flag the command line leaves out. Every mistake (an unknown flag, a
 * missing value, a stray argument, a value of the wrong form) is a UsageError naming the flag;
 * commands exit with code 2 on it.
 */
import { parseArgs } from 'node:util';

/** Bad command-line input: the process should print the message and exit with code 2. */
export class UsageError extends Error {}

export interface FlagSpec {
  help: string;
  /** 'string' (the default) takes a value; 'boolean' is given or not. */
  type?: 'string' | 'boolean';
  /** Environment variable read when the flag is not given (string flags). */
  env?: string;
  /** Value when neither the flag nor its environment variable is set (string flags). */
  default?: string;
  /** One-letter alias, e.g. 'h'. */
  short?: string;
  /** A string flag that may be given more than once; read it with `values`. */
  multiple?: boolean;
}

export type FlagSpecs = Record<string, FlagSpec>;

export interface ParsedFlags<F extends FlagSpecs> {
  /** A string flag's value: the command line's, else its environment variable's, else its default. */
  value: (name: keyof F & string) => string | undefined;
  /** Every value of a `multiple` flag, in order; each may also be a comma-separated list. */
  values: (name: keyof F & string) => string[];
  /** Whether a boolean flag was given. */
  given: (name: keyof F & string) => boolean;
  /** Arguments that are not flags, in order (only when the command takes any). */
  positionals: string[];
  /** `--help` or `-h` was given: print `flagHelp` and exit 0 before looking at anything else. */
  help: boolean;
}

export interface ParseOptions {
  /** Where `env` names are looked up; nothing is when unset. */
  env?: NodeJS.ProcessEnv;
  /** How many positional arguments the command takes (default 0). */
  maxPositionals?: number;
}

/** The flag a parseArgs message is about, e.g. `--bogus` from "Unknown option '--bogus'…". */
function flagIn(message: string): string {
  return /'(-{1,2}[^' =<]+)/.exec(message)?.[1] ?? '';
}

/** parseArgs' error, worded for a person and naming the flag. */
function usageError(error: Error & { code?: string }, flags: FlagSpecs): UsageError {
  const flag = flagIn(error.message);
  switch (error.code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return new UsageError(
        `unknown flag ${flag}; known: ${Object.keys(flags)
          .map((f) => `--${f}`)
          .join(', ')}`,
        { cause: error },
      );
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE':
      return new UsageError(
        /does not take an argument/.test(error.message)
          ? `${flag} takes no value`
          : `${flag} needs a value (${flag}=<value>)`,
        { cause: error },
      );
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return new UsageError(
        `unexpected argument "${/'([^']*)'/.exec(error.message)?.[1] ?? ''}": flags are --name=value`,
        { cause: error },
      );
    default:
      return new UsageError(error.message, { cause: error });
  }
}

/** Parses `argv` (the arguments after the command) against `flags`; throws UsageError. */
export function parseFlags<F extends FlagSpecs>(
  flags: F,
  argv: readonly string[],
  options: ParseOptions = {},
): ParsedFlags<F> {
  const specs: FlagSpecs = { help: { type: 'boolean', short: 'h', help: 'print this help' }, ...flags };
  const parseOptions = Object.fromEntries(
    Object.entries(specs).map(([name, spec]) => [
      name,
      {
        type: spec.type ?? 'string',
        ...(spec.short ? { short: spec.short } : {}),
        ...(spec.multiple ? { multiple: true } : {}),
      },
    ]),
  ) as Record<string, { type: 'string' | 'boolean'; short?: string; multiple?: boolean }>;
  let parsed: { values: Record<string, string | boolean | (string | boolean)[] | undefined>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: [...argv],
      options: parseOptions,
      strict: true,
      allowPositionals: (options.maxPositionals ?? 0) > 0,
    });
  } catch (error) {
    throw usageError(error as Error & { code?: string }, flags);
  }
  const max = options.maxPositionals ?? 0;
  if (parsed.positionals.length > max)
    throw new UsageError(`unexpected arguments: ${parsed.positionals.slice(max).join(' ')}`);
  const env = options.env ?? {};
  return {
    value: (name) => {
      const spec = specs[name]!;
      const given = parsed.values[name];
      if (typeof given === 'string') return given;
      return (spec.env ? env[spec.env] : undefined) ?? spec.default;
    },
    values: (name) => {
      const given = parsed.values[name];
      const list = Array.isArray(given) ? given : typeof given === 'string' ? [given] : [];
      return list
        .flatMap((v) => String(v).split(','))
        .map((v) => v.trim())
        .filter((v) => v !== '');
    },
    given: (name) => parsed.values[name] === true,
    positionals: parsed.positionals,
    help: parsed.values['help'] === true,
  };
}

/** Help text: `usage`, then one line per flag with its environment variable and default. */
export function flagHelp(usage: string, flags: FlagSpecs): string {
  const width = Math.max(...Object.keys(flags).map((f) => f.length)) + 2;
  const line = ([name, spec]: [string, FlagSpec]): string => {
    const sources = [spec.env ? `$${spec.env}` : '', spec.default ? `default ${spec.default}` : '']
      .filter(Boolean)
      .join(', ');
    return `  --${name.padEnd(width)} ${spec.help}${sources ? ` [${sources}]` : ''}`;
  };
  return [usage, '', ...Object.entries(flags).map(line)].join('\n');
}

/** `text` of `--flag` as an integer in [min, max]; throws UsageError naming the flag. */
export function integerFlag(flag: string, text: string | undefined, min: number, max: number): number {
  const value = Number(text);
  if (text === undefined || text.trim() === '' || !Number.isInteger(value) || value < min || value > max)
    throw new UsageError(`--${flag}: "${text ?? ''}" is not an integer between ${min} and ${max}`);
  return value;
}

/** `text` of `--flag` as true or false (flags that an environment variable may also set). */
export function booleanFlag(flag: string, text: string | undefined): boolean {
  if (text === 'true' || text === 'false') return text === 'true';
  throw new UsageError(`--${flag}: "${text ?? ''}" is not true or false`);
}

/**
 * For scripts (hack/): parses this process's arguments and reads them with `read`; prints help and
 * exits 0, or prints a UsageError (from parsing or from `read`) and exits 2.
 */
export function scriptFlags<F extends FlagSpecs, T>(
  usage: string,
  flags: F,
  read: (flags: ParsedFlags<F>) => T,
  options: ParseOptions = {},
): T {
  try {
    const parsed = parseFlags(flags, process.argv.slice(2), options);
    if (parsed.help) {
      console.log(flagHelp(usage, flags));
      process.exit(0);
    }
    return read(parsed);
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${flagHelp(usage, flags)}`);
    process.exit(2);
  }
}
