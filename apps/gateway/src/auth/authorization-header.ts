import { AppError, ERRORS } from '@app/shared/errors';

const XBL3 = /^XBL3\.0 x=[^;]*;(\S+)$/i;
const BEARER = /^Bearer +(\S+)$/i;

/**
 * The JWT from `Authorization: XBL3.0 x=<userhash>;<token>` or
 * `Authorization: Bearer <token>`. The user hash is not checked: the token's
 * own claims identify the caller.
 */
export function tokenFromAuthorization(header: string | string[] | undefined): string {
  if (header === undefined || header === '') throw new AppError(ERRORS.TOKEN_MISSING);
  if (Array.isArray(header)) throw new AppError(ERRORS.AUTHORIZATION_MALFORMED);
  const match = XBL3.exec(header.trim()) ?? BEARER.exec(header.trim());
  if (!match) throw new AppError(ERRORS.AUTHORIZATION_MALFORMED);
  return match[1];
}
