import { ServerResponse, STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest, FastifyServerOptions } from 'fastify';
import { AppError, ErrorDefinition, ERRORS } from '@app/shared/errors';
import type { InternalListener } from './internal-listener';

/**
 * Path parameters may be as long as a URL may be: a long message id is then
 * our 404 (MESSAGE_ID_INVALID), and `xuid(` + 100 zeros + `1)` is the XUID 1,
 * instead of Fastify's 414. (The request line and headers are bounded by
 * Node's 16 KiB header limit, 431 past it.)
 */
const MAX_PARAM_LENGTH = 16 * 1024;

/**
 * The Fastify options that keep the HTTP layer's own refusals in the
 * contract's errorResponse shape: malformed HTTP (Node's parser) is answered
 * on the socket by {@link clientErrorHandler}; a malformed percent-escape in a
 * path is 400; a missing Host is left to {@link onRequest}, so it too
 * gets a body.
 */
export function edgeOptions(): Pick<FastifyServerOptions, 'routerOptions' | 'frameworkErrors' | 'clientErrorHandler'> & {
  http: { requireHostHeader: boolean };
} {
  return {
    routerOptions: { maxParamLength: MAX_PARAM_LENGTH },
    frameworkErrors: (_error, _request, reply) => {
      sendEdgeError(reply, ERRORS.BAD_REQUEST, 'The URL is malformed: a percent-escape (%XX) does not encode UTF-8.');
    },
    clientErrorHandler,
    // Node would answer 400 with an empty body; onRequest answers instead.
    http: { requireHostHeader: false },
  };
}

/**
 * Hooks on the instance: X-Request-Id on every answer, a request without Host,
 * an Expect other than 100-continue, and (with an internal listener) which
 * routes each listener serves. The internal listener's server gets the same
 * handling of malformed HTTP and of Expect as the public one.
 */
export function registerEdgeHooks(fastify: FastifyInstance, internal?: InternalListener): void {
  fastify.addHook('onRequest', (request, reply, done) => onRequest(request, reply, done, internal));
  fastify.server.on('checkExpectation', answerExpectationFailed);
  if (internal) {
    internal.server.on('checkExpectation', answerExpectationFailed);
    internal.server.on('clientError', clientErrorHandler);
  }
}

// Without a listener Node answers 417 itself, with an empty body.
function answerExpectationFailed(_request: unknown, response: ServerResponse): void {
  const body = bodyOf(ERRORS.EXPECTATION_FAILED);
  response.writeHead(ERRORS.EXPECTATION_FAILED.status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
    connection: 'close',
  });
  response.end(body);
}

/**
 * One hook for every request: the answer names its request (so a player's
 * report can be found in the logs), HTTP/1.1 requires Host (RFC 9112
 * section 3.2), and an internal route is not found on the public port (nor a
 * player route on the internal one).
 */
function onRequest(
  request: FastifyRequest,
  reply: FastifyReply,
  done: (error?: Error) => void,
  internal: InternalListener | undefined,
): void {
  void reply.header('x-request-id', request.id);
  if (request.raw.httpVersionMajor === 1 && request.raw.httpVersionMinor === 1 && request.headers.host === undefined) {
    done(new AppError(ERRORS.BAD_REQUEST, 'An HTTP/1.1 request must carry a Host header.'));
    return;
  }
  if (internal && !internal.serves(request)) {
    done(new AppError(ERRORS.ROUTE_NOT_FOUND));
    return;
  }
  done();
}

/**
 * Node's parser refused the bytes: answer on the socket, after any response
 * still being written for an earlier pipelined request, and close.
 */
function clientErrorHandler(error: Error & { code?: string }, socket: Socket): void {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const definition = error.code === 'HPE_HEADER_OVERFLOW' ? ERRORS.HEADERS_TOO_LARGE : ERRORS.BAD_REQUEST;
  const message =
    definition === ERRORS.BAD_REQUEST
      ? 'The request is not well-formed HTTP/1.1 (request line, headers, Content-Length or chunks).'
      : undefined;
  const body = bodyOf(definition, message);
  const head =
    `HTTP/1.1 ${definition.status} ${STATUS_CODES[definition.status]}\r\n` +
    `Content-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n`;
  const answer = (): void => {
    if (socket.writable) socket.end(head + body);
    else socket.destroy();
  };
  // A pipelined request before this one may still be answering: let it finish
  // first. But a response whose own request never arrived whole (its body is
  // what is malformed) will never finish: answer for it now.
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (pending && !pending.writableFinished && pending.req.complete) pending.once('finish', answer);
  else answer();
}

function bodyOf(definition: ErrorDefinition, message = definition.message): string {
  return JSON.stringify({ errorSource: definition.source, errorCode: definition.code, errorMessage: message });
}

function sendEdgeError(reply: FastifyReply, definition: ErrorDefinition, message: string): void {
  void reply
    .status(definition.status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send(bodyOf(definition, message));
}
