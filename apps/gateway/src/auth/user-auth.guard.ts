import { CanActivate, ExecutionContext, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AppError, ErrorDefinition, ERRORS, quotedValue } from '@app/shared/errors';
import { UserIdentity } from '@app/shared/tokens';
import { authorizationOf, tokenFromAuthorization } from './authorization-header';
import { RequestThrottle } from './request-throttle.service';
import { TokenVerifier } from './token-verifier.service';
import { xuidFromUserSegment } from './user-path';
import { headerValues } from '../http/raw-headers';

/** The route parameter holding the `xuid({xuid})` segment on user routes. */
export const USER_PARAM = 'user';
const INVALID_PATH_XUID = 'auth:invalidPathXuid';
const CONTRACT_VERSION = 'x-xbl-contract-version';

/** Marks a user route and names its error for an unconvertible path XUID. */
export const UserRoute = (invalidPathXuid: ErrorDefinition): MethodDecorator & ClassDecorator =>
  SetMetadata(INVALID_PATH_XUID, invalidPathXuid);

export interface AuthenticatedRequest extends FastifyRequest {
  user: UserIdentity;
}

/**
 * Authenticates the caller and makes sure they own the path, in the order the
 * contract implies: no valid token 401 (429 once the address has failed too
 * often); past the caller's request limits 429; bad contract version 400; a
 * path XUID that cannot be converted 403 or 404 (per route); someone else's
 * path 403. Every authenticated request counts against its caller's limits,
 * the refused ones too.
 */
@Injectable()
export class UserAuthGuard implements CanActivate {
  constructor(
    private readonly verifier: TokenVerifier,
    private readonly reflector: Reflector,
    private readonly throttle: RequestThrottle,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<AuthenticatedRequest>();
    let identity: UserIdentity;
    try {
      identity = await this.verifier.verify(tokenFromAuthorization(authorizationOf(request)));
    } catch (error) {
      if (error instanceof AppError && error.definition.status === 401) {
        await this.throttle.countFailedAuthentication(request.ip);
      }
      throw error;
    }
    await this.throttle.countRequest(identity.xuid);

    checkContractVersion(headerValues(request.raw.rawHeaders, CONTRACT_VERSION));

    const invalid = this.reflector.getAllAndOverride<ErrorDefinition>(INVALID_PATH_XUID, [
      context.getHandler(),
      context.getClass(),
    ]);
    const segment = (request.params as Record<string, string>)[USER_PARAM];
    const pathXuid = xuidFromUserSegment(segment, invalid);
    if (pathXuid !== identity.xuid) throw new AppError(ERRORS.FORBIDDEN_USER);

    request.user = identity;
    return true;
  }
}

function checkContractVersion(values: string[]): void {
  if (values.length > 1) {
    throw new AppError(ERRORS.UNSUPPORTED_CONTRACT_VERSION, 'x-xbl-contract-version is given twice; send it once, as 1.');
  }
  if (values.length === 1 && values[0] !== '1') {
    throw new AppError(
      ERRORS.UNSUPPORTED_CONTRACT_VERSION,
      `x-xbl-contract-version must be 1, or be left out; got ${quotedValue(values[0], 10)}.`,
    );
  }
}
