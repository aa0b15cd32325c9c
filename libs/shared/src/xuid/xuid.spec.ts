import { parseJsonLossless } from './lossless-json';
import { JsonNumber, parseXuid, parseXuidValue, XUID_MAX } from './xuid';

const TWO_POW_53_PLUS_1 = '9007199254740993';
const TWO_POW_64_MINUS_1 = '18446744073709551615';

describe('parseXuid', () => {
  it.each([
    ['1', '1'],
    ['01', '1'],
    ['0001', '1'],
    ['2533274790412952', '2533274790412952'],
    [TWO_POW_53_PLUS_1, TWO_POW_53_PLUS_1],
    [TWO_POW_64_MINUS_1, TWO_POW_64_MINUS_1],
    [`0${TWO_POW_64_MINUS_1}`, TWO_POW_64_MINUS_1],
    [`000${TWO_POW_64_MINUS_1}`, TWO_POW_64_MINUS_1],
  ])('should return the canonical XUID when given %p', (text, expected) => {
    expect(parseXuid(text)).toBe(expected);
  });

  it('should keep the maximum equal to 2^64 - 1 when compared as a bigint', () => {
    expect(BigInt(parseXuid(TWO_POW_64_MINUS_1) as string)).toBe(XUID_MAX);
    expect(XUID_MAX).toBe(2n ** 64n - 1n);
  });

  it.each([
    ['0'],
    ['000'],
    ['18446744073709551616'],
    ['18446744073709551625'],
    ['99999999999999999999'],
    ['100000000000000000000'],
    ['184467440737095516150'],
  ])('should return null when the value %p is zero or above 2^64 - 1', (text) => {
    expect(parseXuid(text)).toBeNull();
  });

  it.each([
    ['-1'],
    ['+1'],
    ['1.0'],
    ['1.5'],
    ['1e3'],
    ['1E3'],
    ['0x10'],
    [' 1'],
    ['1 '],
    ['1\n'],
    [''],
    ['abc'],
    ['12a'],
    ['１'],
    ['١'],
  ])('should return null when the text %p is not plain ASCII decimal digits', (text) => {
    expect(parseXuid(text)).toBeNull();
  });
});

describe('parseXuidValue', () => {
  it('should parse a string of digits when given a string', () => {
    expect(parseXuidValue('0042')).toBe('42');
  });

  it('should return null when given a string that cannot be converted', () => {
    expect(parseXuidValue('4.2')).toBeNull();
  });

  it('should keep 2^64 - 1 exactly when it arrives as a bare JSON number', () => {
    const body = parseJsonLossless(`{"xuid":${TWO_POW_64_MINUS_1}}`) as { xuid: unknown };

    expect(body.xuid).toBeInstanceOf(JsonNumber);
    expect(parseXuidValue(body.xuid)).toBe(TWO_POW_64_MINUS_1);
  });

  it('should keep 2^53 + 1 exactly when it arrives as a bare JSON number, which JSON.parse would corrupt', () => {
    const text = `{"xuid":${TWO_POW_53_PLUS_1}}`;

    const lossless = parseJsonLossless(text) as { xuid: unknown };
    const plain = JSON.parse(text) as { xuid: number };

    expect(parseXuidValue(lossless.xuid)).toBe(TWO_POW_53_PLUS_1);
    expect(String(plain.xuid)).toBe('9007199254740992');
    expect(String(plain.xuid)).not.toBe(TWO_POW_53_PLUS_1);
  });

  it('should drop leading zeros when a JsonNumber carries them', () => {
    expect(parseXuidValue(new JsonNumber('007'))).toBe('7');
  });

  it.each([['-1'], ['1.5'], ['1e3'], ['1E3'], ['-0'], ['0']])(
    'should return null when the bare JSON number is %s',
    (literal) => {
      const body = parseJsonLossless(`{"xuid":${literal}}`) as { xuid: unknown };

      expect(body.xuid).toBeInstanceOf(JsonNumber);
      expect(parseXuidValue(body.xuid)).toBeNull();
    },
  );

  it.each([
    ['true', true],
    ['null', null],
    ['undefined', undefined],
    ['an object', {}],
    ['an array', ['1']],
    ['a JS number', 5],
    ['a bigint', 5n],
  ])('should return null when given %s', (_label, value) => {
    expect(parseXuidValue(value)).toBeNull();
  });
});

describe('parseJsonLossless', () => {
  it('should keep every number as its source text when parsing', () => {
    expect(parseJsonLossless('{"a":[1,2.50,-3e2]}')).toEqual({
      a: [new JsonNumber('1'), new JsonNumber('2.50'), new JsonNumber('-3e2')],
    });
  });

  it('should throw when an object repeats a key with a different value', () => {
    expect(() => parseJsonLossless('{"xuid":"1","xuid":"2"}')).toThrow(/Duplicate key 'xuid'/);
  });

  it('should throw when a number has a leading zero', () => {
    expect(() => parseJsonLossless('{"xuid":0123}')).toThrow(SyntaxError);
  });

  it('should throw when valid JSON is followed by trailing garbage', () => {
    expect(() => parseJsonLossless('{"xuid":"1"} x')).toThrow(SyntaxError);
  });

  it('should throw when the text is empty', () => {
    expect(() => parseJsonLossless('')).toThrow(SyntaxError);
  });
});
