import { describe, expect, it } from '@jest/globals';
import { CAPACITY_POLL_MS, capacityDue, reportDue, type CapacityReport } from './status.js';

const report = (reportedAt: string, usedBytes = 100): CapacityReport => ({
  totalBytes: 1_000_000,
  usedBytes,
  reportedAt,
});

describe('capacity reports', () => {
  const t0 = '2026-12-06T10:00:00.000Z';
  const at = (ms: number): Date => new Date(Date.parse(t0) + ms);

  it('measures when no report is kept, or the kept one is a poll period old, and not in between', () => {
    expect(capacityDue(undefined, at(0))).toBe(true);
    // A reconcile right after the status write (the write's own watch event) measures nothing: each
    // new measurement would change the status again, and so on in a loop.
    expect(capacityDue(report(t0), at(1))).toBe(false);
    expect(capacityDue(report(t0), at(CAPACITY_POLL_MS - 1))).toBe(false);
    expect(capacityDue(report(t0), at(CAPACITY_POLL_MS))).toBe(true);
  });

  it('keeps the report when the use barely moved, replaces it when it moved by 0.1% or more', () => {
    expect(reportDue(report(t0, 100), report(at(CAPACITY_POLL_MS).toISOString(), 150))).toBe(false);
    expect(reportDue(report(t0, 100), report(at(CAPACITY_POLL_MS).toISOString(), 1_200))).toBe(true);
    expect(reportDue(undefined, report(t0))).toBe(true);
  });
});
