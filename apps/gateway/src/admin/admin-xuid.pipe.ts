import { Injectable, PipeTransform } from '@nestjs/common';
import { AppError, ERRORS } from '@app/shared/errors';
import { parseXuid, Xuid } from '@app/shared/xuid';

const WRAPPED = /^xuid\((.*)\)$/;

/** An admin path XUID: plain digits, or the contract's `xuid(digits)` form. */
@Injectable()
export class AdminXuidPipe implements PipeTransform<string, Xuid> {
  transform(segment: string): Xuid {
    const xuid = parseXuid(WRAPPED.exec(segment)?.[1] ?? segment);
    if (xuid === null) {
      throw new AppError(
        ERRORS.ADMIN_XUID_INVALID,
        `"${segment.slice(0, 40)}" is not an XUID: expected decimal digits for 1..18446744073709551615.`,
      );
    }
    return xuid;
  }
}
