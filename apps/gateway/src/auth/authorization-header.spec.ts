import { AppError, ERRORS } from '@app/shared/errors';
import { authorizationOf, tokenFromAuthorization } from './authorization-header';

const JWT = 'eyJhbGciOiJIUzI1NiJ9.eyJ4aWQiOiIxIn0.c2lnbmF0dXJl';

function errorOf(header: string | string[] | undefined): AppError {
  try {
    tokenFromAuthorization(header);
  } catch (error) {
    expect(error).toBeInstanceOf(AppError);
    return error as AppError;
  }
  throw new Error(`expected ${JSON.stringify(header)} to be refused`);
}

describe('tokenFromAuthorization', () => {
  it.each([
    ['XBL3.0 with a userhash', `XBL3.0 x=1234567890;${JWT}`],
    ['XBL3.0 with an empty userhash', `XBL3.0 x=;${JWT}`],
    ['Bearer', `Bearer ${JWT}`],
    ['bearer in lower case', `bearer ${JWT}`],
    ['BEARER in upper case', `BEARER ${JWT}`],
    ['Bearer with several spaces', `Bearer   ${JWT}`],
    ['Bearer with surrounding whitespace', `  Bearer ${JWT}  `],
  ])('should return the token when the header is %s', (_label, header) => {
    expect(tokenFromAuthorization(header)).toBe(JWT);
  });

  it.each([
    ['undefined', undefined],
    ['the empty string', ''],
  ])('should throw TOKEN_MISSING when the header is %s', (_label, header) => {
    expect(errorOf(header).definition).toBe(ERRORS.TOKEN_MISSING);
  });

  it.each([
    ['Basic x'],
    ['XBL3.0 token'],
    [`XBL3.0 ${JWT}`],
    [`XBL3.0 x=hash ${JWT}`],
    ['XBL3.0 x=hash;'],
    [`XBL3.0 x=hash;${JWT} extra`],
    ['Bearer'],
    ['Bearer '],
    ['Bearer a b'],
    [`Token ${JWT}`],
    [JWT],
    ['   '],
  ])('should throw AUTHORIZATION_MALFORMED when the header is %p', (header) => {
    expect(errorOf(header).definition).toBe(ERRORS.AUTHORIZATION_MALFORMED);
  });

  it('should throw AUTHORIZATION_MALFORMED saying "given twice" when the header arrives as an array', () => {
    const error = errorOf([`Bearer ${JWT}`, `Bearer ${JWT}`]);
    expect([error.definition, error.message]).toEqual([
      ERRORS.AUTHORIZATION_MALFORMED,
      'The Authorization header is given twice; send it once.',
    ]);
  });
});

describe('authorizationOf', () => {
  const request = (rawHeaders: string[]) => ({
    headers: { authorization: rawHeaders[1] },
    raw: { rawHeaders },
  });

  it('should return the one Authorization header, whatever the case of its name', () => {
    expect(authorizationOf(request(['AUTHORIZATION', `Bearer ${JWT}`, 'Host', 'x']))).toBe(`Bearer ${JWT}`);
  });

  it('should refuse an Authorization header given twice, saying so', () => {
    const twice = request(['Authorization', `Bearer ${JWT}`, 'authorization', 'Bearer other']);
    expect(() => authorizationOf(twice)).toThrow('The Authorization header is given twice; send it once.');
  });
});
