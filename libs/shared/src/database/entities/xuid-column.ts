/**
 * XUIDs are unsigned 64-bit and do not fit Postgres `bigint` (signed), so they
 * are stored as numeric(20,0): exact, indexable, and returned by node-postgres
 * as the canonical decimal string, which is exactly our `Xuid` representation.
 * Every table bounds them to 1..2^64-1 with a CHECK constraint.
 */
export const XUID_COLUMN = { type: 'numeric', precision: 20, scale: 0 } as const;

export const XUID_CHECK = (column: string): string => `"${column}" >= 1 AND "${column}" <= 18446744073709551615`;
