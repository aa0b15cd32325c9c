import { GAMERTAG_MAX_LENGTH, isPossibleGamertag } from './gamertag';

// The contract asks for "a string of 1..15 characters of a possible gamertag";
// the implementation defines that as letters and digits (any script) with
// single inner spaces, counted in code points.
describe('isPossibleGamertag', () => {
  it('should allow at most 15 characters', () => {
    expect(GAMERTAG_MAX_LENGTH).toBe(15);
  });

  it.each([
    ['a plain name', 'Striker'],
    ['inner single spaces (13 characters)', 'Go Team Emily'],
    ['exactly 15 characters', 'A'.repeat(15)],
    ['15 characters with spaces', 'Go Team Emily X'],
    ['a single letter', 'x'],
    ['a single digit', '7'],
    ['only digits', '2533274790'],
    ['a leading digit', '1Striker'],
    ['accented letters', 'Émilie Ñoño'],
    ['CJK letters', '日本語ゲーマー'],
    ['Cyrillic letters', 'Игрок'],
    ['non-ASCII digits', '١٢٣'],
    ['15 letters outside the BMP (30 UTF-16 units)', '𝒜'.repeat(15)],
  ])('should accept %s when it is letters, digits and single inner spaces', (_label, value) => {
    expect(isPossibleGamertag(value)).toBe(true);
  });

  it.each([
    ['the empty string', ''],
    ['16 characters', 'A'.repeat(16)],
    ['16 letters outside the BMP', '𝒜'.repeat(16)],
    ['a leading space', ' Striker'],
    ['a trailing space', 'Striker '],
    ['only a space', ' '],
    ['a double inner space', 'Go  Team'],
    ['a tab', 'Go\tTeam'],
    ['a newline', 'Go\nTeam'],
    ['a no-break space', 'Go\u00a0Team'],
    ['an underscore', 'Go_Team'],
    ['a hyphen', 'Go-Team'],
    ['a dot', 'Go.Team'],
    ['an apostrophe', "O'Neil"],
    ['an emoji', 'Gamer😀'],
    ['an emoji alone', '😀'],
    ['a combining mark', 'Cafe\u0301'],
    ['a zero-width joiner', 'Go\u200dTeam'],
    ['an unpaired surrogate', 'Go\ud800'],
  ])('should reject %s when it is not a possible gamertag', (_label, value) => {
    expect(isPossibleGamertag(value)).toBe(false);
  });

  it.each([
    ['a number', 12345],
    ['null', null],
    ['undefined', undefined],
    ['an array', ['Striker']],
    ['an object', { gamertag: 'Striker' }],
    ['a boolean', true],
  ])('should reject %s when the value is not a string', (_label, value) => {
    expect(isPossibleGamertag(value)).toBe(false);
  });
});
