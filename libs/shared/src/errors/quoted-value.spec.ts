import { quotedValue } from './quoted-value';

describe('quotedValue', () => {
  it('should quote a short printable value as it is', () => {
    expect(quotedValue('xuid(abc)')).toBe('"xuid(abc)"');
  });

  it('should cut a long value to its first code points and say so', () => {
    expect(quotedValue('1234567890', 4)).toBe('"1234..."');
    expect(quotedValue('😀😀😀', 2)).toBe('"\\ud83d\\ude00\\ud83d\\ude00..."');
  });

  it('should escape quotes, backslashes, controls, bidi overrides and lone surrogates', () => {
    expect(quotedValue('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(quotedValue('tab\there\n')).toBe('"tab\\u0009here\\u000a"');
    expect(quotedValue('\u202eevil')).toBe('"\\u202eevil"');
    expect(quotedValue('x\ud800')).toBe('"x\\ud800"');
    expect(quotedValue('clé')).toBe('"cl\\u00e9"');
  });
});
