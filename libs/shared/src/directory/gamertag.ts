/** Gamertags are 1..15 characters (code points): letters and digits, single inner spaces. */
const GAMERTAG_SHAPE = /^[\p{L}\p{N}](?:[\p{L}\p{N}]| (?! ))*$/u;

export const GAMERTAG_MAX_LENGTH = 15;

/** Whether `value` could be someone's gamertag (a send naming anything else is 404 GAMERTAG_INVALID). */
export function isPossibleGamertag(value: unknown): value is string {
  if (typeof value !== 'string') return false;
  const length = [...value].length;
  return length >= 1 && length <= GAMERTAG_MAX_LENGTH && GAMERTAG_SHAPE.test(value) && !value.endsWith(' ');
}
