import { applyDecorators } from '@nestjs/common';
import { IsOptional, Matches } from 'class-validator';

/** One key of a `kid:secret,...` setting: the kid names it on the wire; the secret never travels. */
export interface KeyListEntry {
  kid: string;
  secret: string;
}

export const KID_FORMAT = /^[A-Za-z0-9]{1,8}$/;
const KEY_LIST_FORMAT = /^[A-Za-z0-9]{1,8}:[^,\s]{32,}(,[A-Za-z0-9]{1,8}:[^,\s]{32,})*$/;

/**
 * An optional setting of comma-separated `kid:secret` pairs (kid 1..8 letters
 * or digits, secret at least 32 characters, no commas or spaces).
 */
export const IsKeyList = (): PropertyDecorator =>
  applyDecorators(
    IsOptional(),
    Matches(KEY_LIST_FORMAT, {
      message: 'must be comma-separated kid:secret pairs (kid 1..8 letters or digits, secret at least 32 characters)',
    }),
  );

/** The keys of a valid key-list setting, in order (none when unset). */
export function parseKeyList(value: string | undefined): KeyListEntry[] {
  if (value === undefined) return [];
  return value.split(',').map((pair) => {
    const colon = pair.indexOf(':');
    return { kid: pair.slice(0, colon), secret: pair.slice(colon + 1) };
  });
}

/** A kid listed twice would leave it open which secret it names. */
export function keyListProblems(variable: string, value: string | undefined): string[] {
  const kids = parseKeyList(value).map((key) => key.kid);
  const repeated = [...new Set(kids.filter((kid, index) => kids.indexOf(kid) !== index))];
  return repeated.length > 0 ? [`${variable}: each kid may appear once (repeated: ${repeated.join(', ')})`] : [];
}
