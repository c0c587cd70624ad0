import { describe, expect, it } from '@jest/globals';
import { nextRun, parseSchedule } from './schedule.js';

const next = (s: string, after: string) => nextRun(parseSchedule(s), new Date(after))?.toISOString();

describe('ingest schedules', () => {
  it.each([
    ['0 */6 * * *', '2026-11-21T05:59:30Z', '2026-11-21T06:00:00.000Z'],
    ['0 */6 * * *', '2026-11-21T06:00:00Z', '2026-11-21T12:00:00.000Z'],
    ['30 2 * * mon', '2026-11-21T00:00:00Z', '2026-11-23T02:30:00.000Z'],
    ['0 0 1 jan *', '2026-11-21T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['@daily', '2026-11-21T23:59:00Z', '2026-11-22T00:00:00.000Z'],
    ['15,45 9-17/4 * * 1-5', '2026-11-21T10:00:00Z', '2026-11-23T09:15:00.000Z'],
    ['0 12 13 * 5', '2026-11-01T00:00:00Z', '2026-11-06T12:00:00.000Z'],
    ['0 0 * * 7', '2026-11-21T00:00:00Z', '2026-11-22T00:00:00.000Z'],
  ])('%s after %s is %s', (schedule, after, expected) => expect(next(schedule, after)).toBe(expected));

  it('runs once for "once"', () => {
    expect(parseSchedule('once')).toEqual({ once: true });
    expect(next('once', '2026-11-21T00:00:00Z')).toBeUndefined();
  });

  it.each([
    ['0 25 * * *', 'hour "25" is out of range 0-23'],
    ['* * *', "want 'once' or 5 fields"],
    ['*/0 * * * *', 'bad step in minute'],
    ['0 0 * foo *', 'month "foo" is out of range'],
  ])('refuses %s naming the problem', (schedule, message) => expect(() => parseSchedule(schedule)).toThrow(message));
});
