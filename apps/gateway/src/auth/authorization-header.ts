import { AppError, ERRORS } from '@app/shared/errors';
import { headerValues } from '../http/raw-headers';

const XBL3 = /^XBL3\.0 x=[^;]*;(\S+)$/i;
const BEARER = /^Bearer +(\S+)$/i;

/**
 * The request's one Authorization header. Node keeps only the first of
 * repeated Authorization headers, so the raw list is counted: a request that
 * repeats it is refused (401) rather than judged by one of the two.
 */
export function authorizationOf(request: {
  headers: { authorization?: string };
  raw: { rawHeaders: string[] };
}): string | undefined {
  if (headerValues(request.raw.rawHeaders, 'authorization').length > 1) throw givenTwice();
  return request.headers.authorization;
}

const givenTwice = (): AppError =>
  new AppError(ERRORS.AUTHORIZATION_MALFORMED, 'The Authorization header is given twice; send it once.');

/**
 * The JWT from `Authorization: XBL3.0 x=<userhash>;<token>` or
 * `Authorization: Bearer <token>`. The user hash is not checked: the token's
 * own claims identify the caller.
 */
export function tokenFromAuthorization(header: string | string[] | undefined): string {
  if (header === undefined || header === '') throw new AppError(ERRORS.TOKEN_MISSING);
  if (Array.isArray(header)) throw givenTwice();
  const match = XBL3.exec(header.trim()) ?? BEARER.exec(header.trim());
  if (!match) throw new AppError(ERRORS.AUTHORIZATION_MALFORMED);
  return match[1];
}
