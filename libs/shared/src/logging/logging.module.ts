import { DynamicModule, Module } from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IncomingMessage } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { SharedConfig } from '../config';

export const REQUEST_ID_HEADER = 'x-request-id';
const QUIET_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
// An incoming id is carried through only if it is short and plain.
const ACCEPTABLE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,64}$/;

/** Reads the caller's x-request-id, or makes one; the same id goes into RPCs and jobs. */
export function requestIdOf(request: IncomingMessage): string {
  const incoming = request.headers[REQUEST_ID_HEADER];
  return typeof incoming === 'string' && ACCEPTABLE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
}

function pathOf(request: IncomingMessage & { originalUrl?: string }): string {
  return (request.originalUrl ?? request.url ?? '').split('?')[0];
}

/**
 * Structured JSON logs (pretty in development), with credentials
 * and message texts redacted wherever they could appear.
 */
@Module({})
export class LoggingModule {
  static forRoot(config: SharedConfig, service: string): DynamicModule {
    // Readable lines for a developer's `npm start`; JSON everywhere else.
    const pretty = config.NODE_ENV === 'development';
    return {
      module: LoggingModule,
      global: true,
      imports: [
        LoggerModule.forRoot({
          pinoHttp: {
            name: service,
            level: config.LOG_LEVEL,
            genReqId: (request) => requestIdOf(request),
            // Under Fastify's middleware layer `url` is relative to the mount point.
            autoLogging: { ignore: (request) => QUIET_ROUTES.has(pathOf(request)) },
            redact: {
              paths: [
                'req.headers.authorization',
                'req.headers.cookie',
                'req.query.continuationToken',
                'req.body',
                '*.messageText',
                '*.text',
                '*.token',
              ],
              censor: '[redacted]',
            },
            quietReqLogger: true,
            transport: pretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
          },
        }),
      ],
    };
  }
}
