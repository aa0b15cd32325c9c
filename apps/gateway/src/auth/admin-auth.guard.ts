import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError, ERRORS } from '@app/shared/errors';
import { authorizationOf } from './authorization-header';
import { GatewayConfig } from '../gateway.config';
import { RequestThrottle } from './request-throttle.service';

const BEARER = /^Bearer +(\S+)$/i;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Admin routes take `Authorization: Bearer <ADMIN_TOKEN>`, compared in
 * constant time. Wrong tokens count as failed authentications of the address.
 */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(
    config: GatewayConfig,
    private readonly throttle: RequestThrottle,
  ) {
    this.expected = digest(config.ADMIN_TOKEN ?? '');
  }

  async canActivate(context: ExecutionContext): Promise<boolean> {
    const request = context.switchToHttp().getRequest<FastifyRequest>();
    const header = authorizationOf(request);
    const presented = typeof header === 'string' ? BEARER.exec(header.trim())?.[1] : undefined;
    if (presented === undefined || !timingSafeEqual(digest(presented), this.expected)) {
      await this.throttle.countFailedAuthentication(request.ip);
      throw new AppError(ERRORS.ADMIN_UNAUTHORIZED);
    }
    return true;
  }
}
