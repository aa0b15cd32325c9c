import { Injectable, PipeTransform } from '@nestjs/common';
import { AppError, ERRORS, quotedValue } from '@app/shared/errors';
import { parseXuid, Xuid, XUID_RULE } from '@app/shared/xuid';

const WRAPPED = /^xuid\((.*)\)$/;

/** An admin path XUID: plain digits, or the contract's `xuid(digits)` form. */
@Injectable()
export class AdminXuidPipe implements PipeTransform<string, Xuid> {
  transform(segment: string): Xuid {
    const xuid = parseXuid(WRAPPED.exec(segment)?.[1] ?? segment);
    if (xuid === null) {
      throw new AppError(
        ERRORS.ADMIN_XUID_INVALID,
        `The XUID in the path segment ${quotedValue(segment, 40)} cannot be converted: ` +
          `use ${XUID_RULE}, plain or as xuid(<digits>).`,
      );
    }
    return xuid;
  }
}
