import fastify, { FastifyInstance } from 'fastify';
import { AppError, ERRORS } from '@app/shared/errors';
import { JsonNumber } from '@app/shared/xuid';
import { BODY_LIMIT_BYTES, registerJsonBodyParser, RejectedBodyPipe } from './json-body';

const pipe = new RejectedBodyPipe();

// Numbers are echoed as "#<source text>" so a test sees exactly what was kept.
const echoNumbers = (_key: string, value: unknown): unknown => (value instanceof JsonNumber ? `#${value.text}` : value);

describe('registerJsonBodyParser', () => {
  let app: FastifyInstance;
  let lastBody: unknown;

  beforeAll(async () => {
    app = fastify();
    registerJsonBodyParser(app);
    app.post('/echo', (request) => {
      lastBody = request.body;
      try {
        const body = pipe.transform(request.body, { type: 'body' });
        return { rejected: false, body: JSON.parse(JSON.stringify(body, echoNumbers)) as unknown };
      } catch (error) {
        return { rejected: true, errorCode: (error as AppError).definition.code, message: (error as AppError).message };
      }
    });
    await app.ready();
  });

  afterAll(() => app.close());

  const post = (payload: string | Buffer, headers: Record<string, string> = {}) =>
    app.inject({ method: 'POST', url: '/echo', payload, headers });

  it('should keep a 20-digit number exactly when the body is JSON', async () => {
    const response = await post('{"xuid":18446744073709551615,"n":1.50}', { 'content-type': 'application/json' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ rejected: false, body: { xuid: '#18446744073709551615', n: '#1.50' } });
  });

  it('should accept the body when the content type carries a charset', async () => {
    const response = await post('{"a":"b"}', { 'content-type': 'application/json; charset=utf-8' });

    expect(response.json()).toEqual({ rejected: false, body: { a: 'b' } });
  });

  it('should mark the body rejected with INVALID_JSON when the JSON is invalid', async () => {
    const response = await post('{"a":', { 'content-type': 'application/json' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ rejected: true, errorCode: ERRORS.INVALID_JSON.code });
    expect(response.json<{ message: string }>().message).toMatch(/^The request body is not valid JSON \(.+\)\.$/);
  });

  it.each([
    ['a duplicate key', '{"a":1,"a":2}'],
    ['a leading-zero number', '{"xuid":0123}'],
    ['trailing garbage', '{"a":1} x'],
  ])('should mark the body rejected with INVALID_JSON when it has %s', async (_label, payload) => {
    const response = await post(payload, { 'content-type': 'application/json' });

    expect(response.json()).toMatchObject({ rejected: true, errorCode: ERRORS.INVALID_JSON.code });
  });

  it('should mark the body rejected with UNSUPPORTED_CONTENT_TYPE, not answer 415, when it is text/plain', async () => {
    const response = await post('{"a":"b"}', { 'content-type': 'text/plain' });

    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      rejected: true,
      errorCode: ERRORS.UNSUPPORTED_CONTENT_TYPE.code,
      message: ERRORS.UNSUPPORTED_CONTENT_TYPE.message,
    });
  });

  it('should mark the body rejected with UNSUPPORTED_CONTENT_TYPE when a body has no content type', async () => {
    const response = await post('{"a":"b"}');

    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({ rejected: true, errorCode: ERRORS.UNSUPPORTED_CONTENT_TYPE.code });
  });

  it('should accept a body of exactly 64 KiB when it is JSON', async () => {
    const payload = `"${'x'.repeat(BODY_LIMIT_BYTES - 2)}"`;

    const response = await post(payload, { 'content-type': 'application/json' });

    expect(response.statusCode).toBe(200);
    expect(response.json<{ rejected: boolean }>().rejected).toBe(false);
  });

  it('should answer 413 FST_ERR_CTP_BODY_TOO_LARGE when a JSON body is 64 KiB + 1', async () => {
    expect(BODY_LIMIT_BYTES).toBe(65_536);
    const payload = `"${'x'.repeat(BODY_LIMIT_BYTES - 1)}"`;

    const response = await post(payload, { 'content-type': 'application/json' });

    expect(response.statusCode).toBe(413);
    expect(response.json<{ code: string }>().code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
  });

  it('should answer 413 FST_ERR_CTP_BODY_TOO_LARGE when a body of another type is 64 KiB + 1', async () => {
    const response = await post(Buffer.alloc(BODY_LIMIT_BYTES + 1, 0x61), { 'content-type': 'text/plain' });

    expect(response.statusCode).toBe(413);
    expect(response.json<{ code: string }>().code).toBe('FST_ERR_CTP_BODY_TOO_LARGE');
  });

  describe('RejectedBodyPipe', () => {
    it('should throw the AppError when a rejected body is read as the body', async () => {
      await post('{', { 'content-type': 'text/plain' });

      let thrown: unknown;
      try {
        pipe.transform(lastBody, { type: 'body' });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(AppError);
      expect((thrown as AppError).definition).toBe(ERRORS.UNSUPPORTED_CONTENT_TYPE);
    });

    it.each([['query'], ['param'], ['custom']] as const)(
      'should pass the value through when the argument type is %s',
      async (type) => {
        await post('{', { 'content-type': 'application/json' });

        expect(pipe.transform(lastBody, { type })).toBe(lastBody);
      },
    );

    it('should pass a parsed body through when it was not rejected', () => {
      const body = { a: 1 };

      expect(pipe.transform(body, { type: 'body' })).toBe(body);
    });
  });
});
