/** Go-style durations ("30s", "15m", "1h30m", "168h", "500ms"), as the CRDs accept them. */
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** Milliseconds of a duration; throws naming `field` when it is not one. */
export function parseDuration(text: string, field: string): number {
  const parts = [...text.matchAll(/([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/g)];
  if (!parts.length || parts.map((p) => p[0]).join('') !== text)
    throw new Error(`${field}: "${text}" is not a duration such as 30s, 15m or 168h`);
  return Math.round(parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2]!]!, 0));
}
