import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { pageOf } from './paging.js';

describe('paging', () => {
  const items = ['a', 'b', 'c', 'd', 'e'];

  it('hands out pages until the token runs empty', () => {
    expect(pageOf(items, 2, '')).toEqual({ entries: ['a', 'b'], next_token: '2' });
    expect(pageOf(items, 2, '2')).toEqual({ entries: ['c', 'd'], next_token: '4' });
    expect(pageOf(items, 2, '4')).toEqual({ entries: ['e'], next_token: '' });
  });

  it('returns everything when max_entries is 0 or unset', () => {
    expect(pageOf(items, 0, '')).toEqual({ entries: items, next_token: '' });
    expect(pageOf(items, undefined, '3')).toEqual({ entries: ['d', 'e'], next_token: '' });
  });

  it.each(['x', '-1', '6', '1e3', '9999999999'])('refuses token %j with ABORTED', (token) => {
    expect(() => pageOf(items, 1, token)).toThrow(expect.objectContaining({ code: status.ABORTED }));
  });

  it('refuses a negative max_entries', () => {
    expect(() => pageOf(items, -1, '')).toThrow(
      expect.objectContaining({ code: status.INVALID_ARGUMENT, details: expect.stringContaining('max_entries') }),
    );
  });
});
