import { ArgumentsHost, Catch, ExceptionFilter, HttpException, HttpStatus, Logger } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Observable, throwError } from 'rxjs';
import {
  AppError,
  describeDependencyFailure,
  ERRORS,
  ErrorDefinition,
  ErrorResponse,
  isDependencyFailure,
  payloadTooLargeMessage,
} from '../errors';
import { noteRequestFailure, RequestFailure } from '../logging';

/** Seconds a client should wait before retrying after a 503 for a dependency. */
export const DEPENDENCY_RETRY_AFTER_SECONDS = 1;

export interface RenderedError {
  status: number;
  body: ErrorResponse & Record<string, unknown>;
  retryAfterSeconds?: number;
  /** For the log: the unavailable dependency's error, or a 500's error id. */
  dependencyError?: unknown;
  errorId?: string;
}

// Fastify's own errors, raised before a request reaches Nest.
const FASTIFY_ERRORS: Record<string, ErrorDefinition> = {
  FST_ERR_CTP_BODY_TOO_LARGE: ERRORS.PAYLOAD_TOO_LARGE,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: ERRORS.UNSUPPORTED_CONTENT_TYPE,
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: ERRORS.BAD_REQUEST,
  FST_ERR_CTP_EMPTY_JSON_BODY: ERRORS.INVALID_JSON,
  FST_ERR_CTP_INVALID_JSON_BODY: ERRORS.INVALID_JSON,
};

/**
 * Maps any failure to the contract's errorResponse: domain errors as defined,
 * the framework's own errors to their catalog entries, unavailable
 * dependencies to 503 (their cause is for the caller to log, in one line), and
 * anything else to a 500 that reveals nothing but an error id (logged here
 * with the stack).
 */
export function renderError(exception: unknown, logger: Logger): RenderedError {
  if (exception instanceof AppError) {
    const rendered = render(exception.definition, exception.message, exception.retryAfterSeconds);
    if (exception.details) rendered.body = { ...rendered.body, ...exception.details };
    return rendered;
  }
  const fastifyCode = (exception as { code?: unknown })?.code;
  if (typeof fastifyCode === 'string' && FASTIFY_ERRORS[fastifyCode]) {
    return render(FASTIFY_ERRORS[fastifyCode]);
  }
  if (exception instanceof HttpException) {
    const status: HttpStatus = exception.getStatus();
    if (status === HttpStatus.NOT_FOUND) return render(ERRORS.ROUTE_NOT_FOUND);
    if (status === HttpStatus.PAYLOAD_TOO_LARGE) return render(ERRORS.PAYLOAD_TOO_LARGE);
    // A Content-Type the framework cannot even parse ("json", "", a list): the contract says 400.
    if (status === HttpStatus.UNSUPPORTED_MEDIA_TYPE) return render(ERRORS.UNSUPPORTED_CONTENT_TYPE);
    if (status >= HttpStatus.BAD_REQUEST && status < HttpStatus.INTERNAL_SERVER_ERROR)
      return { ...render(ERRORS.BAD_REQUEST), status };
  }
  const statusCode = (exception as { statusCode?: unknown })?.statusCode;
  if (typeof statusCode === 'number' && statusCode >= 400 && statusCode < 500) {
    return { ...render(ERRORS.BAD_REQUEST), status: statusCode };
  }
  if (isDependencyFailure(exception)) {
    return {
      ...render(ERRORS.DEPENDENCY_UNAVAILABLE, undefined, DEPENDENCY_RETRY_AFTER_SECONDS),
      dependencyError: exception,
    };
  }
  const errorId = randomUUID();
  logger.error({ err: withoutValues(exception), errorId }, `Unexpected error ${errorId}`);
  return { ...render(ERRORS.INTERNAL, `${ERRORS.INTERNAL.message} Error id: ${errorId}.`), errorId };
}

// Fields of database errors that carry the statement's values (a message's text among them).
const VALUE_FIELDS = ['parameters', 'detail', 'where'];

/**
 * The error as logged: its name, message, code, stack and query, but never the
 * values it was run with (TypeORM's `parameters`, Postgres's `detail`), so a
 * 500 does not write a player's message text into the logs.
 */
export function withoutValues(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const copy: Record<string, unknown> = { name: error.name, message: error.message, stack: error.stack };
  for (const [key, value] of Object.entries(error)) {
    if (VALUE_FIELDS.includes(key)) continue;
    copy[key] = key === 'driverError' ? withoutValues(value) : value;
  }
  return copy;
}

function render(definition: ErrorDefinition, message = definition.message, retryAfterSeconds?: number): RenderedError {
  return {
    status: definition.status,
    body: { errorSource: definition.source, errorCode: definition.code, errorMessage: message },
    retryAfterSeconds,
  };
}

export function sendError(reply: FastifyReply, rendered: RenderedError): void {
  reply.status(rendered.status).header('cache-control', 'no-store');
  if (rendered.retryAfterSeconds !== undefined) {
    reply.header('retry-after', String(rendered.retryAfterSeconds));
  }
  void reply.type('application/json; charset=utf-8').send(rendered.body);
}

/** What an RPC caller receives when a handler fails: the catalog code, never a stack. */
export interface RpcErrorReply {
  status: number;
  errorCode: ErrorResponse['errorCode'];
  errorMessage: string;
}

/**
 * Renders every failure: as the contract's errorResponse over HTTP, and as an
 * error reply over RPC (a microservice inherits this filter), so the caller
 * learns of the failure at once instead of waiting out its timeout.
 */
@Catch()
export class ErrorResponseFilter implements ExceptionFilter {
  private readonly logger = new Logger(ErrorResponseFilter.name);

  catch(exception: unknown, host: ArgumentsHost): void | Observable<never> {
    // A handler's deliberate RPC answer (quota refusing a credential) goes to the caller as it is.
    if (host.getType() === 'rpc' && exception instanceof RpcException) return throwError(() => exception.getError());
    const rendered = renderError(exception, this.logger);
    if (host.getType() !== 'http') {
      if (rendered.dependencyError !== undefined) {
        this.logger.warn(`Dependency unavailable: ${describeDependencyFailure(rendered.dependencyError)}`);
      }
      const reply: RpcErrorReply = {
        status: rendered.status,
        errorCode: rendered.body.errorCode,
        errorMessage: rendered.body.errorMessage,
      };
      return throwError(() => reply);
    }
    const http = host.switchToHttp();
    const reply = http.getResponse<FastifyReply>();
    // A route with its own body limit (POST /admin/system-messages) says so in its 413.
    const limit = http.getRequest<FastifyRequest | undefined>()?.routeOptions?.bodyLimit;
    if (rendered.body.errorCode === ERRORS.PAYLOAD_TOO_LARGE.code && typeof limit === 'number') {
      rendered.body = { ...rendered.body, errorMessage: payloadTooLargeMessage(limit) };
    }
    // The request's log line says why, once: no second line from here for a known failure.
    noteRequestFailure(reply.raw, failureOf(exception, rendered));
    sendError(reply, rendered);
  }
}

function failureOf(exception: unknown, rendered: RenderedError): RequestFailure {
  const { errorCode } = rendered.body;
  if (rendered.dependencyError !== undefined) return { errorCode, dependencyError: rendered.dependencyError };
  if (rendered.errorId !== undefined) return { errorCode, errorId: rendered.errorId, reason: `error id ${rendered.errorId}` };
  // A 5xx AppError's message is ours (never the caller's input); a 4xx's may quote the request.
  if (rendered.status >= 500 && exception instanceof AppError) return { errorCode, reason: exception.message };
  return { errorCode };
}
