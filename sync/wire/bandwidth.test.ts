import { describe, expect, it } from '@jest/globals';
import { Bandwidth, parseBandwidth, type Clock } from './bandwidth.js';

/** A clock that only moves when the bucket sleeps: the time a transfer takes is exact. */
function fakeClock(): Clock & { elapsedMs: number } {
  const clock = {
    elapsedMs: 0,
    now: () => clock.elapsedMs,
    sleep: (ms: number) => {
      clock.elapsedMs += ms;
      return Promise.resolve();
    },
  };
  return clock;
}

describe('bandwidth limit', () => {
  it('spreads 10 MB at 1 MB/s over 10 s less the quarter-second burst, across concurrent takers', async () => {
    const clock = fakeClock();
    const bucket = new Bandwidth(1_000_000, clock);
    await Promise.all(
      Array.from({ length: 4 }, () => Promise.all(Array.from({ length: 25 }, () => bucket.take(100_000)))),
    );
    expect(clock.elapsedMs).toBeCloseTo(9_750, 0);
  });

  it('does not wait without a limit', async () => {
    const clock = fakeClock();
    await new Bandwidth(0, clock).take(1e12);
    expect(clock.elapsedMs).toBe(0);
  });

  it.each([
    ['100Mi', 100 * 1024 * 1024],
    ['1G', 1e9],
    ['1.5Ki', 1536],
    ['500', 500],
    ['1e9', 1e9],
    ['2Pi', 2 * 2 ** 50],
    ['500M', 5e8],
    ['500m', 1], // half a byte per second is rounded up, never to "unlimited"
    [1_000_000, 1_000_000],
    [undefined, 0],
  ])('parses %s', (text, bytes) => expect(parseBandwidth(text, 'policy.bandwidthLimit')).toBe(bytes));

  it('names the field of a value that is not a rate', () => {
    expect(() => parseBandwidth('10 MB/s', 'policy.bandwidthLimit')).toThrow(
      'policy.bandwidthLimit: "10 MB/s" is not a quantity',
    );
    expect(() => parseBandwidth('-1M', 'policy.bandwidthLimit')).toThrow('policy.bandwidthLimit: "-1M" is negative');
  });
});
