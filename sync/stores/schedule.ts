/**
 * Ingest schedules: `once`, or a 5-field cron expression (minute hour day-of-month month
 * day-of-week, in UTC; numbers, names such as jan or mon, `*`, ranges, lists and steps; when both
 * day fields are restricted either may match, as in Vixie cron) or @hourly/@daily/@weekly/
 * @monthly/@yearly — what the DataFlow CRD accepts (api/v1alpha1/common.ts `cronSchedule`).
 * The cron is croner's; this module only fixes its options and words its errors by field.
 */
import { Cron } from 'croner';

export type Schedule = { once: true } | { once: false; cron: Cron };

/** Croner counts the entries of its 6-part form, seconds first. */
const ENTRIES = ['second', 'minute', 'hour', 'day of month', 'month', 'day of week'];

/** Croner's wording, with the field named the way the schedule's author knows it. */
function reworded(message: string): string {
  return message
    .replace(/^CronPattern: /, '')
    .replace(/configuration entry (\d+) \((.*?)\)/, (whole, entry: string, value: string) => {
      const name = ENTRIES[Number(entry)];
      return name ? `${name} "${value}"` : whole;
    });
}

/** Parses `text`; throws an error that names the field at fault, and refuses a schedule that can never run. */
export function parseSchedule(text: string): Schedule {
  if (text === 'once') return { once: true };
  let cron: Cron;
  try {
    // sloppyRanges: `5/15` (from 5, every 15) is cron the CRD accepts.
    cron = new Cron(text, { paused: true, timezone: 'UTC', mode: '5-part', sloppyRanges: true });
  } catch (error) {
    throw new Error(
      `schedule "${text}": ${reworded((error as Error).message)}; want 'once', 5 fields (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly`,
      { cause: error },
    );
  }
  // Only a day of month that no listed month has (31 in February) can leave nothing to run.
  if (!cron.nextRun(new Date(0)))
    throw new Error(
      `schedule "${text}": day of month and month never meet (no listed month has that day), so it would never run`,
    );
  return { once: false, cron };
}

/** The first minute strictly after `after` that the schedule matches, or undefined for `once`. */
export function nextRun(schedule: Schedule, after: Date): Date | undefined {
  if (schedule.once) return undefined;
  return schedule.cron.nextRun(after) ?? undefined;
}
