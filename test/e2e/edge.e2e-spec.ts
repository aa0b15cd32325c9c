import { connect } from 'node:net';
import { ERRORS } from '@app/shared/errors';
import { bearer, createUser } from '../factories/users.factory';
import { startStack } from '../setup/services';

interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: unknown;
}

/**
 * Requests written byte by byte on a socket, for what fetch refuses to send:
 * malformed HTTP, duplicate headers, no Host. Answers are parsed in order
 * (pipelining), until the server closes the connection.
 */
async function raw(url: string, bytes: string): Promise<RawAnswer[]> {
  const { hostname, port } = new URL(url);
  const received = await new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(port), hostname, () => socket.end(bytes));
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
    socket.setTimeout(5000, () => socket.destroy());
  });
  const answers: RawAnswer[] = [];
  let rest = received.toString('latin1');
  while (rest.startsWith('HTTP/1.1 ')) {
    const headEnd = rest.indexOf('\r\n\r\n');
    const [statusLine, ...lines] = rest.slice(0, headEnd).split('\r\n');
    const headers = Object.fromEntries(
      lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
    );
    const length = Number(headers['content-length'] ?? 0);
    const text = Buffer.from(rest.slice(headEnd + 4), 'latin1')
      .subarray(0, length)
      .toString('utf8');
    answers.push({ status: Number(statusLine.split(' ')[1]), headers, body: text === '' ? undefined : JSON.parse(text) });
    rest = Buffer.from(Buffer.from(rest.slice(headEnd + 4), 'latin1').subarray(length)).toString('latin1');
  }
  return answers;
}

const error = (definition: { code: number; source: string }, errorMessage: unknown = expect.any(String)) => ({
  errorSource: definition.source,
  errorCode: definition.code,
  errorMessage,
});

/** The HTTP layer's own refusals answer the contract's errorResponse, never a framework's body. */
describe('the edge: every answer in the errorResponse shape', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let url: string;
  let adminUrl: string;
  let authorization: string;
  let xuid: string;

  beforeAll(async () => {
    stack = await startStack();
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
    xuid = (await createUser(adminUrl)).xuid;
    authorization = (await bearer(xuid)).authorization;
  });

  afterAll(async () => {
    await stack?.close();
  });

  const get = (path: string) => fetch(`${url}${path}`, { headers: { authorization } });

  it.each(['%', '%zz', '%C3'])('should answer 400 errorResponse for the malformed escape %s in a path', async (escape) => {
    const response = await get(`/users/xuid(${xuid})/inbox/${escape}`);

    expect(response.status).toBe(400);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body).toEqual(error(ERRORS.BAD_REQUEST));
    expect(JSON.stringify(body)).not.toMatch(/FST_|fastify/i);
  });

  it('should answer 404, not 414, for a 101-character message id', async () => {
    const response = await get(`/users/xuid(${xuid})/inbox/${'A'.repeat(101)}`);

    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(error(ERRORS.MESSAGE_ID_INVALID));
  });

  it('should read xuid( + 100 zeros + the XUID ) as that XUID', async () => {
    const response = await get(`/users/xuid(${'0'.repeat(100)}${xuid})/inbox`);

    expect(response.status).toBe(200);
  });

  it.each([
    ['a bad Content-Length', 'GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n'],
    ['two Content-Lengths', 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab'],
    [
      'Content-Length with chunked',
      'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
    ],
    ['a bad chunk', 'POST /healthz HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n'],
    ['a bad header name', 'GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n'],
    ['a bad request line', 'GET /healthz HTTP/9.x\r\nHost: x\r\n\r\n'],
    ['a bare LF', 'GET /healthz HTTP/1.1\nHost: x\n\n'],
  ])('should answer 400 errorResponse for malformed HTTP: %s', async (_, bytes) => {
    const answers = await raw(url, bytes);

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([[400, error(ERRORS.BAD_REQUEST)]]);
  });

  it('should still answer a valid request pipelined before a malformed one', async () => {
    const answers = await raw(
      url,
      'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /healthz HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n',
    );

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([
      [200, { status: 'ok' }],
      [400, error(ERRORS.BAD_REQUEST)],
    ]);
  });

  it('should answer 431 errorResponse for headers too large', async () => {
    const answers = await raw(url, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(20_000)}\r\n\r\n`);

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([[431, error(ERRORS.HEADERS_TOO_LARGE)]]);
  });

  it('should answer 431 errorResponse for a URL too large', async () => {
    const answers = await raw(url, `GET /healthz?${'q'.repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n`);

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([[431, error(ERRORS.HEADERS_TOO_LARGE)]]);
  });

  it('should answer 400 errorResponse without a Host header', async () => {
    const answers = await raw(url, 'GET /healthz HTTP/1.1\r\n\r\n');

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([[400, error(ERRORS.BAD_REQUEST)]]);
  });

  it('should answer 417 errorResponse for an Expect it cannot meet', async () => {
    const answers = await raw(url, 'GET /healthz HTTP/1.1\r\nHost: x\r\nExpect: something-else\r\n\r\n');

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([[417, error(ERRORS.EXPECTATION_FAILED)]]);
  });

  it.each(['', 'json', 'application/json, text/plain'])('should answer 400 for the Content-Type "%s"', async (contentType) => {
    const response = await fetch(`${url}/users/xuid(${xuid})/outbox`, {
      method: 'POST',
      headers: { authorization, 'content-type': contentType },
      body: '{}',
    });

    expect(response.status).toBe(400);
    expect(await response.json()).toEqual(error(ERRORS.UNSUPPORTED_CONTENT_TYPE));
  });

  it("should echo the caller's X-Request-Id on every answer, errors included, or name the one it made", async () => {
    const echoed = await fetch(`${url}/users/xuid(${xuid})/inbox`, {
      headers: { authorization, 'x-request-id': 'trace-me-42' },
    });
    const failed = await fetch(`${url}/no/such/route`, { headers: { 'x-request-id': 'trace-me-43' } });
    const made = await fetch(`${url}/users/xuid(${xuid})/inbox`, { headers: { authorization } });

    expect([echoed.status, echoed.headers.get('x-request-id')]).toEqual([200, 'trace-me-42']);
    expect([failed.status, failed.headers.get('x-request-id')]).toEqual([404, 'trace-me-43']);
    expect(made.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('should refuse two Authorization headers with 401, saying it is given twice', async () => {
    const answers = await raw(
      url,
      `GET /users/xuid(${xuid})/inbox HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\nAuthorization: Bearer other\r\n\r\n`,
    );

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([
      [401, error(ERRORS.AUTHORIZATION_MALFORMED, 'The Authorization header is given twice; send it once.')],
    ]);
  });

  it('should refuse x-xbl-contract-version given twice with 400, saying so, even when both are 1', async () => {
    const answers = await raw(
      url,
      `GET /users/xuid(${xuid})/inbox HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n` +
        'x-xbl-contract-version: 1\r\nX-XBL-Contract-Version: 1\r\n\r\n',
    );

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([
      [400, error(ERRORS.UNSUPPORTED_CONTRACT_VERSION, 'x-xbl-contract-version is given twice; send it once, as 1.')],
    ]);
  });

  it('should refuse an Idempotency-Key given twice with 400, saying so, and send nothing', async () => {
    const body = JSON.stringify({ header: { recipients: [{ xuid }] }, messageText: 'twice' });
    const answers = await raw(
      url,
      `POST /users/xuid(${xuid})/outbox HTTP/1.1\r\nHost: x\r\nAuthorization: ${authorization}\r\n` +
        `Content-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
        `Idempotency-Key: first\r\nIdempotency-Key: second\r\n\r\n${body}`,
    );

    expect(answers.map((answer) => [answer.status, answer.body])).toEqual([
      [400, error(ERRORS.IDEMPOTENCY_KEY_INVALID, 'The Idempotency-Key header is given twice; send it once.')],
    ]);
    const inbox = (await (await get(`/users/xuid(${xuid})/inbox`)).json()) as { pagingInfo: { totalItems: number } };
    expect(inbox.pagingInfo.totalItems).toBe(0);
  });
});
