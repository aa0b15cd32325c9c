import { AppError, ErrorDefinition, ERRORS } from '@app/shared/errors';
import { parseXuid, Xuid } from '@app/shared/xuid';

const USER_SEGMENT = /^xuid\((.*)\)$/;

/**
 * The XUID in a `xuid({xuid})` path segment (already percent-decoded by the
 * router, so `xuid%28123%29` arrives as `xuid(123)`). A segment of another
 * shape is not one of our routes; one whose XUID cannot be converted fails
 * with the route's own error (403 on the outbox, 404 on the inbox).
 */
export function xuidFromUserSegment(segment: string, invalid: ErrorDefinition): Xuid {
  const match = USER_SEGMENT.exec(segment);
  if (!match) throw new AppError(ERRORS.ROUTE_NOT_FOUND);
  const xuid = parseXuid(match[1]);
  if (xuid === null) throw new AppError(invalid);
  return xuid;
}
