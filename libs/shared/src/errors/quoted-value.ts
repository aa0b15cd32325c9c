const PLAIN = /^[\x20-\x7e]$/;

/**
 * A caller's value as an errorMessage may echo it: in double quotes, cut to
 * `maxLength` code points, and with everything but printable ASCII (controls,
 * bidi overrides, lone surrogates, quotes) escaped, so that the echo can neither
 * carry a long input back nor garble a log line or a client's display.
 */
export function quotedValue(text: string, maxLength = 24): string {
  const characters = [...text];
  const shown = characters
    .slice(0, maxLength)
    .map((character) => {
      if (character === '"' || character === '\\') return `\\${character}`;
      if (PLAIN.test(character)) return character;
      return [...Array(character.length).keys()]
        .map((i) => `\\u${character.charCodeAt(i).toString(16).padStart(4, '0')}`)
        .join('');
    })
    .join('');
  return `"${shown}${characters.length > maxLength ? '...' : ''}"`;
}
