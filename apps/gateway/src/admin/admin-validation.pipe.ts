import { ArgumentMetadata, Injectable, ValidationError, ValidationPipe } from '@nestjs/common';
import { AppError, ERRORS } from '@app/shared/errors';

/** class-validator for the admin routes, failing with the admin errorResponse. */
@Injectable()
export class AdminValidationPipe extends ValidationPipe {
  constructor() {
    super({
      whitelist: true,
      transform: true,
      exceptionFactory: (errors: ValidationError[]) =>
        new AppError(ERRORS.ADMIN_VALIDATION, `Invalid request: ${describe(errors).join('; ')}.`),
    });
  }

  override async transform(value: unknown, metadata: ArgumentMetadata): Promise<unknown> {
    if (metadata.type === 'body' && (typeof value !== 'object' || value === null || Array.isArray(value))) {
      throw new AppError(ERRORS.ADMIN_VALIDATION);
    }
    return super.transform(value, metadata);
  }
}

function describe(errors: ValidationError[]): string[] {
  return errors.flatMap((error) => [...Object.values(error.constraints ?? {}), ...describe(error.children ?? [])]);
}
