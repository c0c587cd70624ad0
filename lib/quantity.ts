/**
 * Kubernetes quantities ("500M", "2Pi", "1e9", "1.5G", "100m"), read with the grammar of the API
 * server's resource.ParseQuantity, which the CRDs' `isQuantity` rule uses: whatever the API server
 * accepted in a quantity field, Kmesh reads the same way. One parser for every quantity Kmesh
 * turns into a number. (Checked against ParseQuantity on thousands of generated strings; the only
 * difference: a few digit-less forms such as "Pi" that the server refuses read as 0 here.)
 *
 *   quantity ::= sign? number suffix?      sign ::= + | -
 *   number   ::= digits? (. digits?)?                (no digits at all reads as 0, as the server does)
 *   suffix   ::= Ki | Mi | Gi | Ti | Pi | Ei          (binary)
 *              | n | u | m | k | M | G | T | P | E   (decimal)
 *              | (e | E) sign? digits                 (decimal exponent)
 */

const BINARY_EXPONENT: Readonly<Record<string, bigint>> = { Ki: 10n, Mi: 20n, Gi: 30n, Ti: 40n, Pi: 50n, Ei: 60n };
const DECIMAL_EXPONENT: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
/** Beyond 10^±400 a double is Infinity or 0 anyway; bounding keeps "1e99999999" from costing memory. */
const MAX_DECIMAL_EXPONENT = 400;

const QUANTITY = /^([+-]?)([0-9]*)(?:[.]([0-9]*))?(?:(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)|[eE]([+-]?[0-9]+))?$/;

/** A quantity as an exact fraction: (negative ? -1 : 1) * numerator / denominator. */
interface Exact {
  negative: boolean;
  numerator: bigint;
  denominator: bigint;
}

function exact(value: string | number, field: string): Exact {
  const text = typeof value === 'number' ? (Number.isInteger(value) ? BigInt(value).toString() : String(value)) : value;
  const match = QUANTITY.exec(text);
  const [, sign = '', whole = '', fraction = '', suffix = '', exponent] = match ?? [];
  // Like ParseQuantity, a number without digits ("+", ".", "Ki") is 0.
  if (!match || text === '') {
    throw new Error(`${field}: "${String(value)}" is not a quantity such as 500M, 100Mi, 2Pi, 1.5G or 1e9`);
  }
  let numerator = BigInt(`${whole}${fraction}` || '0');
  let denominator = 10n ** BigInt(fraction.length);
  const binary = BINARY_EXPONENT[suffix];
  if (binary !== undefined) {
    numerator *= 2n ** binary;
  } else {
    const power = Math.max(
      -MAX_DECIMAL_EXPONENT,
      Math.min(MAX_DECIMAL_EXPONENT, exponent !== undefined ? Number(exponent) : DECIMAL_EXPONENT[suffix]!),
    );
    if (power >= 0) numerator *= 10n ** BigInt(power);
    else denominator *= 10n ** BigInt(-power);
  }
  return { negative: sign === '-' && numerator !== 0n, numerator, denominator };
}

/**
 * The value of a quantity (a string, or the integer form of an int-or-string field). Throws an
 * Error whose message starts with `field` when `value` is not a quantity. Values beyond what a
 * double holds come out as Infinity.
 */
export function parseQuantity(value: string | number, field: string): number {
  const { negative, numerator, denominator } = exact(value, field);
  const magnitude = Number(numerator) / Number(denominator);
  return negative ? -magnitude : magnitude;
}

/**
 * A non-negative whole number of bytes (or bytes per second) from a quantity, rounded up as the
 * API server's Quantity.Value() does, so a small positive value never becomes 0. Above
 * Number.MAX_SAFE_INTEGER (8 PiB) the value is clamped there: no link or volume reaches it.
 */
export function parseByteQuantity(value: string | number, field: string): number {
  const { negative, numerator, denominator } = exact(value, field);
  if (negative) throw new Error(`${field}: "${String(value)}" is negative; it must be 0 or more`);
  const rounded = (numerator + denominator - 1n) / denominator;
  return rounded > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(rounded);
}
