import { Logger, NotFoundException, PayloadTooLargeException } from '@nestjs/common';
import { QueryFailedError } from 'typeorm';
import { AppError, ERRORS } from '../errors';
import { renderError } from './error-response.filter';

describe('renderError', () => {
  const logger = new Logger('test');
  let logged: unknown[];

  beforeEach(() => {
    logged = [];
    jest.spyOn(logger, 'error').mockImplementation((...args: unknown[]) => void logged.push(args));
    jest.spyOn(logger, 'warn').mockImplementation(() => undefined);
  });

  it('should render an AppError as defined, with its Retry-After', () => {
    expect(renderError(new AppError(ERRORS.GAMERTAG_TAKEN, 'taken', 7), logger)).toEqual({
      status: 409,
      body: { errorSource: 'admin', errorCode: 7002, errorMessage: 'taken' },
      retryAfterSeconds: 7,
    });
  });

  it("should map the framework's own errors to catalog entries", () => {
    expect(renderError(new NotFoundException('Cannot GET /x'), logger).body.errorCode).toBe(1001);
    expect(renderError(new PayloadTooLargeException(), logger).status).toBe(413);
    expect(
      renderError(Object.assign(new Error('x'), { code: 'FST_ERR_CTP_INVALID_MEDIA_TYPE', statusCode: 415 }), logger),
    ).toEqual({
      status: 400,
      body: {
        errorSource: 'gateway',
        errorCode: 1003,
        errorMessage: 'Content-Type must be application/json (parameters such as charset=utf-8 are allowed).',
      },
      retryAfterSeconds: undefined,
    });
  });

  it('should log a 500 without the values its statement ran with', () => {
    const driverError = Object.assign(new Error('refused by test'), {
      code: 'P0001',
      detail: 'Failing row contains (secret text).',
      parameters: ['secret text'],
    });
    const failure = new QueryFailedError('INSERT INTO messages VALUES ($1)', ['secret text'], driverError);

    expect(renderError(failure, logger).status).toBe(500);

    expect(JSON.stringify(logged)).not.toContain('secret text');
    expect(JSON.stringify(logged)).toContain('INSERT INTO messages');
    expect(JSON.stringify(logged)).toContain('refused by test');
  });

  it('should answer 503 with Retry-After when a dependency is unavailable, leaving the log line to the caller', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    expect(renderError(refused, logger)).toEqual({
      status: 503,
      body: { errorSource: 'gateway', errorCode: 1006, errorMessage: 'A dependency is unavailable; retry later.' },
      retryAfterSeconds: 1,
      dependencyError: refused,
    });
    expect(logged).toEqual([]);
  });

  it('should answer 500 with only an error id for anything unexpected, logging the details', () => {
    const failure = new QueryFailedError('SELECT secret FROM t', [], new Error('relation "t" does not exist'));
    const rendered = renderError(failure, logger);
    expect(rendered.status).toBe(500);
    expect(rendered.body).toEqual({
      errorSource: 'gateway',
      errorCode: 1000,
      errorMessage: expect.stringMatching(/^An unexpected server error occurred\. Error id: [0-9a-f-]{36}\.$/) as unknown,
    });
    expect(JSON.stringify(rendered.body)).not.toMatch(/SELECT|relation|secret/);
    const errorId = /Error id: ([0-9a-f-]{36})/.exec(rendered.body.errorMessage)![1];
    expect(rendered.errorId).toBe(errorId);
    expect(logged).toEqual([
      [
        {
          err: expect.objectContaining({
            name: 'QueryFailedError',
            query: 'SELECT secret FROM t',
            message: failure.message,
          }) as unknown,
          errorId,
        },
        `Unexpected error ${errorId}`,
      ],
    ]);
  });
});
