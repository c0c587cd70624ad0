/**
 * Ingest schedules: `once`, a 5-field cron expression (minute hour day-of-month month
 * day-of-week, in UTC; numbers, names such as jan or mon, `*`, ranges, lists and steps), or
 * @hourly/@daily/@weekly/@monthly/@yearly — what the DataFlow CRD accepts.
 */
export type Schedule = { once: true } | { once: false; matches: (date: Date) => boolean };

const MACROS: Record<string, string> = { '@hourly': '0 * * * *', '@daily': '0 0 * * *', '@weekly': '0 0 * * 0', '@monthly': '0 0 1 * *', '@yearly': '0 0 1 1 *' };
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'];
const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

function field(text: string, min: number, max: number, names: string[], base: number, what: string, expression: string): Set<number> {
  const values = new Set<number>();
  const value = (v: string): number => {
    const named = names.indexOf(v.toLowerCase());
    const n = named >= 0 ? named + base : Number(v);
    if (!Number.isInteger(n) || n < min || n > max) throw new Error(`schedule "${expression}": ${what} "${v}" is out of range ${min}-${max}`);
    return n;
  };
  for (const part of text.split(',')) {
    const [range, stepText] = part.split('/') as [string, string | undefined];
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) throw new Error(`schedule "${expression}": bad step in ${what} "${part}"`);
    let [from, to] = [min, max];
    if (range !== '*') {
      const [a, b] = range.split('-') as [string, string | undefined];
      from = value(a);
      to = b === undefined ? (stepText === undefined ? from : max) : value(b);
    }
    for (let v = from; v <= to; v += step) values.add(v);
  }
  return values;
}

export function parseSchedule(text: string): Schedule {
  if (text === 'once') return { once: true };
  const expression = MACROS[text] ?? text;
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5) throw new Error(`schedule "${text}": want 'once' or 5 fields (minute hour day-of-month month day-of-week)`);
  const minutes = field(parts[0]!, 0, 59, [], 0, 'minute', text);
  const hours = field(parts[1]!, 0, 23, [], 0, 'hour', text);
  const doms = field(parts[2]!, 1, 31, [], 1, 'day of month', text);
  const months = field(parts[3]!, 1, 12, MONTHS, 1, 'month', text);
  const dows = field(parts[4]!, 0, 7, DAYS, 0, 'day of week', text);
  if (dows.has(7)) dows.add(0);
  const domAny = parts[2] === '*';
  const dowAny = parts[4] === '*';
  return {
    once: false,
    matches: (d) => {
      if (!minutes.has(d.getUTCMinutes()) || !hours.has(d.getUTCHours()) || !months.has(d.getUTCMonth() + 1)) return false;
      const dom = doms.has(d.getUTCDate());
      const dow = dows.has(d.getUTCDay());
      // cron: when both day fields are restricted, either may match.
      return domAny && dowAny ? true : domAny ? dow : dowAny ? dom : dom || dow;
    },
  };
}

/** The first minute strictly after `after` that the schedule matches (within ~4 years), or undefined. */
export function nextRun(schedule: Schedule, after: Date): Date | undefined {
  if (schedule.once) return undefined;
  const t = new Date(Math.floor(after.getTime() / 60_000) * 60_000 + 60_000);
  for (let i = 0; i < 4 * 366 * 24 * 60; i++, t.setTime(t.getTime() + 60_000)) if (schedule.matches(t)) return t;
  return undefined;
}
