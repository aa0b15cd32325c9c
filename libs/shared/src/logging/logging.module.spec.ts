import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { noteRequestFailure, requestLineOptions, serializeRequest, serializeResponse } from './logging.module';

describe('request log serializers', () => {
  it('should keep the id, method and path, and drop the query, headers and body', () => {
    const request = new IncomingMessage(new Socket()) as IncomingMessage & { id?: string; body?: unknown };
    request.method = 'GET';
    request.url = '/users/xuid(2533274790412952)/inbox?continuationToken=secret-token&maxItems=5';
    request.headers = { authorization: 'Bearer secret-jwt', cookie: 'c=1' };
    request.id = 'req-1';
    request.body = { messageText: 'private words' };
    const line = JSON.stringify(serializeRequest(request));
    expect(JSON.parse(line)).toEqual({ id: 'req-1', method: 'GET', url: '/users/xuid(2533274790412952)/inbox' });
    expect(line).not.toMatch(/secret|private|cookie/);
  });

  it('should keep only the status code of a response', () => {
    const response = new ServerResponse(new IncomingMessage(new Socket()));
    response.statusCode = 404;
    response.setHeader('set-cookie', 'secret');
    expect(serializeResponse(response)).toEqual({ statusCode: 404 });
  });
});

describe('request log line', () => {
  const options = requestLineOptions([{ name: 'Postgres', url: 'postgres://app@127.0.0.1:5432/db' }]);
  const request = new IncomingMessage(new Socket());
  const responseWith = (statusCode: number, failure?: Parameters<typeof noteRequestFailure>[1]) => {
    const response = new ServerResponse(request);
    response.statusCode = statusCode;
    if (failure) noteRequestFailure(response, failure);
    return response;
  };
  // What pino-http passes for any 5xx that emitted no error of its own.
  const madeUp = (statusCode: number) => new Error(`failed with status code ${statusCode}`);

  it('should name the cause of a 503 in one warn line, without the made-up error and its stack', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), {
      code: 'ECONNREFUSED',
      address: '127.0.0.1',
      port: 5432,
    });
    const response = responseWith(503, { errorCode: 1006, dependencyError: refused });
    const value = { res: response, err: madeUp(503), responseTime: 3 };

    expect(options.customLogLevel(request, response, madeUp(503))).toBe('warn');
    expect(options.customErrorMessage(request, response, madeUp(503))).toBe(
      'request failed with status 503: Postgres unreachable at 127.0.0.1:5432: ECONNREFUSED',
    );
    expect(options.customErrorObject(request, response, madeUp(503), value)).toEqual({
      res: response,
      responseTime: 3,
      errorCode: 1006,
    });
  });

  it('should log a 500 at error level with the error id its stack is logged under', () => {
    const response = responseWith(500, { errorCode: 1000, errorId: 'id-1', reason: 'error id id-1' });

    expect(options.customLogLevel(request, response, madeUp(500))).toBe('error');
    expect(options.customErrorMessage(request, response, madeUp(500))).toBe('request failed with status 500: error id id-1');
    expect(options.customErrorObject(request, response, madeUp(500), { res: response, err: madeUp(500) })).toEqual({
      res: response,
      errorCode: 1000,
      errorId: 'id-1',
    });
  });

  it('should keep an error the response itself emitted', () => {
    const response = responseWith(200);
    const broken = new Error('write EPIPE');

    expect(options.customLogLevel(request, response, broken)).toBe('error');
    expect(options.customErrorMessage(request, response, broken)).toBe('request failed with status 200: write EPIPE');
    expect(options.customErrorObject(request, response, broken, { res: response, err: broken })).toEqual({
      res: response,
      err: broken,
    });
  });

  it('should add the errorCode to a refused request, at info level', () => {
    const response = responseWith(404, { errorCode: 3002 });

    expect(options.customLogLevel(request, response, undefined)).toBe('info');
    expect(options.customSuccessObject(request, response, { res: response, responseTime: 1 })).toEqual({
      res: response,
      responseTime: 1,
      errorCode: 3002,
    });
    expect(options.customSuccessObject(request, responseWith(200), { responseTime: 1 })).toEqual({ responseTime: 1 });
  });
});
