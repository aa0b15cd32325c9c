import { CanActivate, ExecutionContext, Injectable } from '@nestjs/common';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { AppError, ERRORS } from '@app/shared/errors';
import { GatewayConfig } from '../gateway.config';

const BEARER = /^Bearer +(\S+)$/i;

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/** Admin routes take `Authorization: Bearer <ADMIN_TOKEN>`, compared in constant time. */
@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly expected: Buffer;

  constructor(config: GatewayConfig) {
    this.expected = digest(config.ADMIN_TOKEN ?? '');
  }

  canActivate(context: ExecutionContext): boolean {
    const header = context.switchToHttp().getRequest<FastifyRequest>().headers.authorization;
    const presented = typeof header === 'string' ? BEARER.exec(header.trim())?.[1] : undefined;
    if (presented === undefined || !timingSafeEqual(digest(presented), this.expected)) {
      throw new AppError(ERRORS.ADMIN_UNAUTHORIZED);
    }
    return true;
  }
}
