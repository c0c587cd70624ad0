import { describe, expect, it } from '@jest/globals';
import { parseOperatorConfig } from './config.js';

describe('parseOperatorConfig', () => {
  it('takes flags over environment over defaults', () => {
    const config = parseOperatorConfig(['--workers=8', '--lustre-image=lustre:2.15'], {
      KMESH_WORKERS: '2',
      POD_NAME: 'op-0',
    });
    expect(config.workers).toBe(8);
    expect(config.settings.lustreImage).toBe('lustre:2.15');
    expect(config.leaderElection.identity).toBe('op-0');
    expect(config.leaderElection.enabled).toBe(true);
    expect(config.healthPort).toBe(8081);
    expect(config.settings.localRoots).toEqual(['/var/lib/kmesh']);
    expect(parseOperatorConfig(['--local-roots=/srv/kmesh, /data/kmesh'], {}).settings.localRoots).toEqual([
      '/srv/kmesh',
      '/data/kmesh',
    ]);
  });

  it.each([
    [['--workers=0'], /--workers: "0" is not an integer between 1 and 64/],
    [['--leader-elect=yes'], /--leader-elect: "yes" is not true or false/],
    [['--bogus=1'], /unknown flag --bogus/],
    [['workers'], /unexpected argument "workers"/],
    [['--renew-deadline=20000'], /--renew-deadline: 20000 must be less than --lease-duration 15000/],
    [['--image='], /--image: must not be empty/],
    [['--health-port=70000'], /--health-port/],
    [['--local-roots=/'], /--local-roots: "\/" would allow every host directory/],
    [['--local-roots=/srv/../etc'], /--local-roots: "\/srv\/..\/etc" has a '.' or '..' segment/],
    [['--local-roots=srv'], /--local-roots: "srv" is not an absolute path/],
  ])('rejects %j naming the flag', (argv, message) => {
    expect(() => parseOperatorConfig(argv, {})).toThrow(message);
  });
});
