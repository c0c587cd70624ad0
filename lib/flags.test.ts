import { describe, expect, it } from '@jest/globals';
import { booleanFlag, flagHelp, integerFlag, parseFlags, UsageError, type FlagSpecs } from './flags.js';

const FLAGS = {
  config: { help: 'config file' },
  workers: { help: 'parallel reconciles', env: 'KMESH_WORKERS', default: '4' },
  kubeconfig: { help: 'kubeconfig file', env: 'KUBECONFIG' },
  once: { help: 'one pass', type: 'boolean' },
} satisfies FlagSpecs;

describe('parseFlags', () => {
  it.each([
    [['--workers=8'], { KMESH_WORKERS: '2' }, '8'], // the command line first
    [['--workers', '8'], { KMESH_WORKERS: '2' }, '8'],
    [[], { KMESH_WORKERS: '2' }, '2'], // then the environment
    [[], {}, '4'], // then the default
    [['--workers='], {}, ''], // an empty value is a value (the command judges it)
  ])('%j with environment %j gives workers %s', (argv, env, expected) => {
    expect(parseFlags(FLAGS, argv, { env }).value('workers')).toBe(expected);
  });

  it('leaves a flag with neither value, variable nor default unset, and reads booleans', () => {
    const flags = parseFlags(FLAGS, ['--once', '--config=/etc/kmesh/config.yaml']);
    expect([flags.value('kubeconfig'), flags.value('config'), flags.given('once'), flags.help]).toEqual([
      undefined,
      '/etc/kmesh/config.yaml',
      true,
      false,
    ]);
    expect(parseFlags(FLAGS, []).given('once')).toBe(false);
  });

  it.each([['--help'], ['-h']])('sees %s', (arg) => expect(parseFlags(FLAGS, [arg]).help).toBe(true));

  it.each([
    [
      ['--dns=a.example', '--dns', 'b.example'],
      ['a.example', 'b.example'],
    ],
    [
      ['--dns=a.example,b.example', '--dns=c.example'],
      ['a.example', 'b.example', 'c.example'],
    ],
    [['--dns=a.example, ,'], ['a.example']],
    [[], []],
  ])('collects a repeatable flag %j as %j', (argv, expected) => {
    expect(parseFlags({ dns: { help: 'extra names', multiple: true } }, argv).values('dns')).toEqual(expected);
  });

  it('takes positionals only when the command has them', () => {
    expect(parseFlags(FLAGS, ['take', '--once'], { maxPositionals: 1 }).positionals).toEqual(['take']);
    expect(() => parseFlags(FLAGS, ['take', 'more'], { maxPositionals: 1 })).toThrow('unexpected arguments: more');
  });

  it.each([
    [['--bogus=1'], 'unknown flag --bogus; known: --config, --workers, --kubeconfig, --once'],
    [['-x'], 'unknown flag -x'],
    [['--config'], '--config needs a value'],
    [['--config', '--once'], '--config needs a value'],
    [['--once=yes'], '--once takes no value'],
    [['workers'], 'unexpected argument "workers"'],
  ])('refuses %j naming the flag', (argv, message) => {
    expect(() => parseFlags(FLAGS, argv)).toThrow(UsageError);
    expect(() => parseFlags(FLAGS, argv)).toThrow(message);
  });
});

describe('flag values', () => {
  it.each([
    ['8', 8],
    ['0', 0],
  ])('integer %s', (text, expected) => expect(integerFlag('port', text, 0, 65535)).toBe(expected));

  it.each([['70000'], ['1.5'], ['eight'], [''], [undefined]])('refuses integer %j naming the flag', (text) => {
    expect(() => integerFlag('port', text, 0, 65535)).toThrow(
      new UsageError(`--port: "${text ?? ''}" is not an integer between 0 and 65535`),
    );
  });

  it('booleans are true or false, nothing else', () => {
    expect([booleanFlag('leader-elect', 'true'), booleanFlag('leader-elect', 'false')]).toEqual([true, false]);
    expect(() => booleanFlag('leader-elect', 'yes')).toThrow('--leader-elect: "yes" is not true or false');
  });

  it('help lists every flag with its variable and default', () => {
    const help = flagHelp('usage: kmesh x [--flag=value ...]', FLAGS);
    expect(help.split('\n')).toEqual([
      'usage: kmesh x [--flag=value ...]',
      '',
      '  --config       config file',
      '  --workers      parallel reconciles [$KMESH_WORKERS, default 4]',
      '  --kubeconfig   kubeconfig file [$KUBECONFIG]',
      '  --once         one pass',
    ]);
  });
});
