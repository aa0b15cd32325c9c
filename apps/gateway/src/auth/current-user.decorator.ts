import { createParamDecorator, ExecutionContext } from '@nestjs/common';
import { UserIdentity } from '@app/shared/tokens';
import { AuthenticatedRequest } from './user-auth.guard';

/** The verified caller, set by UserAuthGuard. */
export const CurrentUser = createParamDecorator(
  (_: unknown, context: ExecutionContext): UserIdentity => context.switchToHttp().getRequest<AuthenticatedRequest>().user,
);
