import { AppError, ErrorDefinition, ERRORS, quotedValue } from '@app/shared/errors';
import { parseXuid, Xuid, XUID_RULE } from '@app/shared/xuid';

const USER_SEGMENT = /^xuid\((.*)\)$/;
const SEGMENT_SHOWN = 40;

/**
 * The XUID in a `xuid({xuid})` path segment (already percent-decoded by the
 * router, so `xuid%28123%29` arrives as `xuid(123)`). A segment of another
 * shape is not one of our routes; one whose XUID cannot be converted fails
 * with the route's own error (403 on the outbox, 404 on the inbox).
 */
export function xuidFromUserSegment(segment: string, invalid: ErrorDefinition): Xuid {
  const match = USER_SEGMENT.exec(segment);
  if (!match) {
    throw new AppError(
      ERRORS.ROUTE_NOT_FOUND,
      `No such resource: the user segment ${quotedValue(segment, SEGMENT_SHOWN)} is not of the form xuid(<XUID>), ` +
        'as in /users/xuid(2533274790412952)/inbox.',
    );
  }
  const xuid = parseXuid(match[1]);
  if (xuid === null) {
    throw new AppError(
      invalid,
      `The XUID in the path segment ${quotedValue(segment, SEGMENT_SHOWN)} cannot be converted: ` +
        `use xuid(<XUID>), the XUID written as ${XUID_RULE}.`,
    );
  }
  return xuid;
}
