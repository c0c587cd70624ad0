import { describe, expect, it } from '@jest/globals';
import { parseByteQuantity, parseQuantity } from './quantity.js';

describe('parseQuantity', () => {
  // Every form the API server's isQuantity accepts (resource.ParseQuantity's grammar).
  it.each<[string | number, number]>([
    ['1e9', 1e9],
    ['1E9', 1e9],
    ['1e+3', 1000],
    ['15e-1', 1.5],
    ['2Pi', 2 * 2 ** 50],
    ['1Ei', 2 ** 60],
    ['500M', 5e8],
    ['100Mi', 100 * 2 ** 20],
    ['1.5G', 1.5e9],
    ['0.1k', 100],
    ['.5Ki', 512],
    ['1.', 1],
    ['3E', 3e18],
    ['2P', 2e15],
    ['4T', 4e12],
    ['250m', 0.25],
    ['7u', 7e-6],
    ['9n', 9e-9],
    ['+12', 12],
    ['-3Ki', -3072],
    ['0', 0],
    ['007', 7],
    // The server reads a number without digits as 0.
    ['.', 0],
    ['+', 0],
    ['Mi', 0],
    ['.e5', 0],
    [1_000_000, 1_000_000],
  ])('reads %s', (text, value) => expect(parseQuantity(text, 'spec.x')).toBeCloseTo(value, 12));

  // What ParseQuantity refuses: unknown suffixes (K is not k), spaces, units, two signs, no digits.
  it.each([
    '',
    'K',
    '1K',
    '1 Mi',
    '1MB',
    '10 MB/s',
    '--1',
    '1e',
    '5e',
    '1e1.5',
    '1Mi1',
    '0x10',
    'NaN',
    'Infinity',
    ' 1',
    '1 ',
  ])('refuses %j, naming the field', (text) => {
    expect(() => parseQuantity(text, 'spec.policy.bandwidthLimit')).toThrow(
      /^spec\.policy\.bandwidthLimit: ".*" is not a quantity/,
    );
  });
});

describe('parseByteQuantity', () => {
  it.each<[string | number, number]>([
    ['1e9', 1_000_000_000],
    ['2Pi', 2_251_799_813_685_248],
    ['500M', 500_000_000],
    ['100Mi', 104_857_600],
    ['1.5G', 1_500_000_000],
    ['0.1k', 100],
    ['1500m', 2], // rounded up, as Quantity.Value() does
    ['1n', 1], // a positive limit never rounds to 0 (which means "unlimited")
    ['1e-999999', 1],
    ['0', 0],
    ['-0', 0],
    ['1e99999999', Number.MAX_SAFE_INTEGER], // clamped, and cheap to read
    ['8Ei', Number.MAX_SAFE_INTEGER],
  ])('reads %s as %d bytes', (text, bytes) => expect(parseByteQuantity(text, 'spec.x')).toBe(bytes));

  it.each(['-1', '-1M', '-.5Ki'])('refuses the negative %s, naming the field', (text) => {
    expect(() => parseByteQuantity(text, 'policy.bandwidthLimit')).toThrow(
      `policy.bandwidthLimit: "${text}" is negative`,
    );
  });
});
