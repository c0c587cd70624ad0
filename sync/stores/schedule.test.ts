import { describe, expect, it } from '@jest/globals';
import { parseWorkerConfig, SyncConfigError } from '../config.js';
import { nextRun, parseSchedule } from './schedule.js';

const next = (s: string, after: string) => nextRun(parseSchedule(s), new Date(after))?.toISOString();

describe('ingest schedules', () => {
  it.each([
    ['0 */6 * * *', '2026-11-21T05:59:30Z', '2026-11-21T06:00:00.000Z'],
    ['0 */6 * * *', '2026-11-21T06:00:00Z', '2026-11-21T12:00:00.000Z'], // strictly after
    ['30 2 * * mon', '2026-11-21T00:00:00Z', '2026-11-23T02:30:00.000Z'],
    ['0 0 1 jan *', '2026-11-21T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['@hourly', '2026-11-21T10:05:00Z', '2026-11-21T11:00:00.000Z'],
    ['@daily', '2026-11-21T23:59:00Z', '2026-11-22T00:00:00.000Z'],
    ['@weekly', '2026-11-21T00:00:00Z', '2026-11-22T00:00:00.000Z'], // Sunday
    ['@monthly', '2026-11-21T00:00:00Z', '2026-12-01T00:00:00.000Z'],
    ['@yearly', '2026-11-21T00:00:00Z', '2027-01-01T00:00:00.000Z'],
    ['15,45 9-17/4 * * 1-5', '2026-11-21T10:00:00Z', '2026-11-23T09:15:00.000Z'],
    ['0 12 13 * 5', '2026-11-01T00:00:00Z', '2026-11-06T12:00:00.000Z'], // both day fields: either matches
    ['0 0 * * 7', '2026-11-21T00:00:00Z', '2026-11-22T00:00:00.000Z'], // 7 is Sunday too
    ['5/15 * * * *', '2026-11-21T10:06:00Z', '2026-11-21T10:20:00.000Z'], // from 5, every 15 (the CRD accepts it)
    ['*/5 * * * *', '2026-11-21T10:04:59Z', '2026-11-21T10:05:00.000Z'],
    ['0 0 29 2 *', '2026-03-01T00:00:00Z', '2028-02-29T00:00:00.000Z'], // only in leap years, but it runs
    ['0 0 31 * *', '2026-11-01T00:00:00Z', '2026-12-31T00:00:00.000Z'], // skips November
  ])('%s after %s is %s', (schedule, after, expected) => expect(next(schedule, after)).toBe(expected));

  it('runs once for "once"', () => {
    expect(parseSchedule('once')).toEqual({ once: true });
    expect(next('once', '2026-11-21T00:00:00Z')).toBeUndefined();
  });

  it.each([
    ['0 0 31 2 *', 'day of month and month never meet'],
    ['0 0 30 2 *', 'day of month and month never meet'],
    ['0 0 31 4,6,9,11 *', 'day of month and month never meet'],
    ['0 25 * * *', 'hour: 25'],
    ['60 * * * *', 'minute: 60'],
    ['* * *', "want 'once', 5 fields"],
    ['0 0 0 * * *', 'requires exactly 5 parts'],
    ['*/0 * * * *', 'illegal stepping'],
    ['0 0 * foo *', 'month "foo"'],
    ['every 5 minutes', "want 'once', 5 fields"],
  ])('refuses %s naming the problem', (schedule, message) => {
    expect(() => parseSchedule(schedule)).toThrow(`schedule "${schedule}": `);
    expect(() => parseSchedule(schedule)).toThrow(message);
  });

  it('a worker config with a schedule that never runs is refused, naming the field', () => {
    const config = (schedule: string) =>
      `dataFlow: ns/raw\nsite: east\ntreeDir: /t\nstateDir: /s\nsources:\n- name: uploads\n  schedule: "${schedule}"\n  posix: {dir: /in}\n`;
    expect(parseWorkerConfig(config('0 0 29 2 *')).sources[0]!.schedule).toBe('0 0 29 2 *');
    expect(() => parseWorkerConfig(config('0 0 31 2 *'))).toThrow(SyncConfigError);
    expect(() => parseWorkerConfig(config('0 0 31 2 *'))).toThrow(
      /^sources\[0\]\.schedule: schedule "0 0 31 2 \*": day of month and month never meet/,
    );
  });
});
