/**
 * An XUID: an unsigned 64-bit integer in 1..18446744073709551615, carried as its
 * canonical decimal string (no sign, no leading zeros). It never passes through a
 * JavaScript `number`, which would silently corrupt values above 2^53.
 */
export type Xuid = string & { readonly __brand: 'Xuid' };

export const XUID_MAX = 18446744073709551615n;

/** How to write an XUID, for the errorMessage of one that cannot be converted. */
export const XUID_RULE = `decimal digits for a value from 1 to ${XUID_MAX} (leading zeros are accepted)`;

const DIGITS = /^[0-9]+$/;
const MAX_DIGITS = XUID_MAX.toString();

/**
 * Parses decimal digits (leading zeros allowed and dropped) into an Xuid, or
 * returns `null` when the text "cannot be converted": empty, a sign, a fraction,
 * an exponent, any other character, zero, or above 2^64 - 1.
 */
export function parseXuid(text: string): Xuid | null {
  if (!DIGITS.test(text)) return null;
  const canonical = text.replace(/^0+/, '');
  if (canonical === '') return null;
  if (canonical.length > MAX_DIGITS.length || (canonical.length === MAX_DIGITS.length && canonical > MAX_DIGITS)) {
    return null;
  }
  return canonical as Xuid;
}

/** Parses a JSON value (a string of digits, or a number kept losslessly as its source text). */
export function parseXuidValue(value: unknown): Xuid | null {
  if (typeof value === 'string') return parseXuid(value);
  if (value instanceof JsonNumber) return parseXuid(value.text);
  return null;
}

export function isXuid(value: unknown): value is Xuid {
  return typeof value === 'string' && parseXuid(value) === value;
}

/**
 * A JSON number exactly as it was written in the request body; produced by the
 * lossless parser so that callers decide how to read it.
 */
export class JsonNumber {
  constructor(readonly text: string) {}
}
