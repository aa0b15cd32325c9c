import {
  DynamicModule,
  Inject,
  Injectable,
  Logger,
  Module,
  OnApplicationBootstrap,
  OnApplicationShutdown,
} from '@nestjs/common';
import { randomUUID } from 'node:crypto';
import { IncomingMessage, ServerResponse } from 'node:http';
import { LoggerModule } from 'nestjs-pino';
import { stdSerializers } from 'pino';
import { effectiveSettings, SharedConfig } from '../config';
import { DependencyEndpoint, describeDependencyFailure } from '../errors/dependency-failure';

export const REQUEST_ID_HEADER = 'x-request-id';
const SERVICE_RUN = Symbol('SERVICE_RUN');
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
 * What a request log line says about the request: its id, method and path.
 * Never headers (credentials), the query (continuation tokens) or the body
 * (message texts); and built from the raw request, so a log line costs no
 * copy of the headers.
 */
export function serializeRequest(request: IncomingMessage & { id?: unknown }): Record<string, unknown> {
  return { id: request.id, method: request.method, url: pathOf(request) };
}

export function serializeResponse(response: ServerResponse): Record<string, unknown> {
  return { statusCode: response.statusCode };
}

const FAILURE = Symbol('requestFailure');

/** Why a request failed, as the error filter saw it; the request's log line says it. */
export interface RequestFailure {
  errorCode: number | null;
  /** The unavailable dependency's error (a 503), described on the line without a stack. */
  dependencyError?: unknown;
  /** A server-side reason safe to log: a 5xx AppError's message, or a 500's error id. */
  reason?: string;
  errorId?: string;
}

type NotedResponse = ServerResponse & { [FAILURE]?: RequestFailure };

/** Records why the response is an error, for the request's log line. */
export function noteRequestFailure(response: ServerResponse, failure: RequestFailure): void {
  (response as NotedResponse)[FAILURE] = failure;
}

/**
 * The request log line's level, fields and text. pino-http marks every 5xx
 * with an error of its own making ("failed with status code 503") and that
 * error's stack, which says nothing: the line says instead what the filter
 * noted, the named cause of a dependency failure at warn level, and a 500 at
 * error level with the error id its stack is logged under. A 4xx stays info,
 * with its errorCode.
 */
export function requestLineOptions(endpoints: readonly DependencyEndpoint[]) {
  const failureOf = (response: ServerResponse): RequestFailure | undefined => (response as NotedResponse)[FAILURE];
  const fields = (response: ServerResponse): Record<string, unknown> => {
    const failure = failureOf(response);
    if (!failure) return {};
    return { errorCode: failure.errorCode, ...(failure.errorId ? { errorId: failure.errorId } : {}) };
  };
  return {
    customLogLevel: (_request: IncomingMessage, response: ServerResponse, error?: Error) => {
      if (response.statusCode === 503) return 'warn' as const;
      return error || response.statusCode >= 500 ? ('error' as const) : ('info' as const);
    },
    customSuccessObject: (_request: IncomingMessage, response: ServerResponse, value: Record<string, unknown>) => ({
      ...value,
      ...fields(response),
    }),
    // `error` is the one the response emitted, when it did; else pino-http's own, which is dropped.
    customErrorObject: (
      _request: IncomingMessage,
      response: ServerResponse,
      error: Error,
      { err, ...value }: Record<string, unknown>,
    ) => ({ ...value, ...fields(response), ...(isMadeUp(error, response) ? {} : { err }) }),
    customErrorMessage: (_request: IncomingMessage, response: ServerResponse, error: Error) => {
      const failure = failureOf(response);
      const cause =
        failure?.dependencyError !== undefined
          ? describeDependencyFailure(failure.dependencyError, endpoints)
          : (failure?.reason ?? (isMadeUp(error, response) ? undefined : error.message));
      return `request failed with status ${response.statusCode}${cause ? `: ${cause}` : ''}`;
    },
  };
}

const isMadeUp = (error: Error, response: ServerResponse): boolean =>
  (response as ServerResponse & { err?: unknown }).err === undefined &&
  error.message === `failed with status code ${response.statusCode}`;

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
            wrapSerializers: false,
            serializers: { req: serializeRequest, res: serializeResponse, err: stdSerializers.err },
            // Requests are logged without headers, query or body (above); these
            // catch a text or token inside any other object logged.
            redact: {
              paths: ['*.messageText', '*.text', '*.token'],
              censor: '[redacted]',
            },
            // One child logger per request (its bindings: the serialized request, with its id), not two.
            quietReqLogger: false,
            ...requestLineOptions([
              { name: 'Postgres', url: config.DATABASE_URL },
              { name: 'Redis', url: config.REDIS_URL },
            ]),
            transport: pretty ? { target: 'pino-pretty', options: { singleLine: true } } : undefined,
          },
        }),
      ],
      providers: [{ provide: SERVICE_RUN, useValue: { service, config } }, ServiceLifecycleLog],
    };
  }
}

/**
 * One line when the service has started, with the settings it runs with
 * (secrets hidden), and one when it stops and why: what an operator looks
 * for first.
 */
@Injectable()
class ServiceLifecycleLog implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly logger = new Logger('Service');

  constructor(@Inject(SERVICE_RUN) private readonly run: { service: string; config: SharedConfig }) {}

  onApplicationBootstrap(): void {
    this.logger.log({ settings: effectiveSettings(this.run.config) }, `${this.run.service} starting`);
  }

  onApplicationShutdown(signal?: string): void {
    this.logger.log(`${this.run.service} stopped${signal ? ` on ${signal}` : ''}`);
  }
}
