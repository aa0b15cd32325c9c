import { ArgumentMetadata, Injectable, PipeTransform } from '@nestjs/common';
import type { FastifyInstance } from 'fastify';
import { AppError, ERRORS } from '@app/shared/errors';
import { parseJsonLossless } from '@app/shared/xuid';

export const BODY_LIMIT_BYTES = 64 * 1024;

/**
 * Route config (Nest's `@RouteConfig`) that raises one route's body limit
 * above BODY_LIMIT_BYTES: POST /admin/system-messages takes up to 10,000
 * XUIDs. Every other route keeps 64 KiB.
 */
export interface BodyLimitConfig {
  bodyLimitBytes?: number;
}

/**
 * Stands in for a body that could not be used, so that the error surfaces
 * after authentication (a caller without a valid token gets 401, not 400).
 */
class RejectedBody {
  constructor(readonly error: AppError) {}
}

/**
 * Registers the gateway's body parsers on Fastify: JSON is parsed losslessly
 * (numbers keep their source text, so 64-bit XUIDs survive); any other media
 * type is accepted for reading and rejected later as 400, as the contract
 * wants (Fastify would answer 415). Bodies over 64 KiB are 413.
 */
export function registerJsonBodyParser(fastify: FastifyInstance): void {
  // A route's own bodyLimit takes precedence over the parser's.
  fastify.addHook('onRoute', (route) => {
    const config: BodyLimitConfig | undefined = route.config;
    const limit = config?.bodyLimitBytes;
    if (limit !== undefined) route.bodyLimit = limit;
  });
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser(
    'application/json',
    { parseAs: 'string', bodyLimit: BODY_LIMIT_BYTES },
    (_request, text, done) => {
      try {
        done(null, parseJsonLossless(text as string));
      } catch (error) {
        const reason = error instanceof Error ? error.message : 'unreadable';
        const message = `The request body is not valid JSON (${reason}).`;
        done(null, new RejectedBody(new AppError(ERRORS.INVALID_JSON, message)));
      }
    },
  );
  fastify.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: BODY_LIMIT_BYTES }, (_request, _body, done) => {
    done(null, new RejectedBody(new AppError(ERRORS.UNSUPPORTED_CONTENT_TYPE)));
  });
}

/** Global pipe: raises the parse error of a body that a route actually reads. */
@Injectable()
export class RejectedBodyPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (metadata.type === 'body' && value instanceof RejectedBody) throw value.error;
    return value;
  }
}
