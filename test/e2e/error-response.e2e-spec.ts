import { ADMIN_HEADERS, bearer, uniqueGamertag, uniqueXuid } from '../factories/users.factory';
import { startGateway, startStack } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { testDatabaseUrl } from '../setup/test-env';

const NO_SUCH_RESOURCE =
  'No such resource: check the method and the path (user routes are /users/xuid(<XUID>)/outbox and /users/xuid(<XUID>)/inbox).';

/** Every error path, the framework's own included, answers the contract's errorResponse. */
describe('errorResponse on every error path', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let url: string;
  let adminUrl: string;

  beforeAll(async () => {
    stack = await startStack();
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
  });

  afterAll(async () => {
    await stack?.close();
  });

  async function expectErrorResponse(response: Response, status: number, errorCode: number, errorMessage: string) {
    expect(response.status).toBe(status);
    expect(response.headers.get('content-type')).toMatch(/^application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({ errorSource: 'gateway', errorCode, errorMessage });
  }

  const putUser = (body: string | Buffer, contentType?: string) =>
    fetch(`${adminUrl}/admin/users/${uniqueXuid()}`, {
      method: 'PUT',
      headers: contentType ? { ...ADMIN_HEADERS, 'content-type': contentType } : ADMIN_HEADERS,
      body,
    });

  it('should answer 404 for an unknown route', async () => {
    await expectErrorResponse(await fetch(`${url}/no/such/route`), 404, 1001, NO_SUCH_RESOURCE);
  });

  it('should answer 404 for a method the route does not have', async () => {
    await expectErrorResponse(await fetch(`${url}/healthz`, { method: 'DELETE' }), 404, 1001, NO_SUCH_RESOURCE);
  });

  it('should answer 404 for a user path segment that is not xuid(...)', async () => {
    const headers = await bearer(uniqueXuid());
    await expectErrorResponse(
      await fetch(`${url}/users/gt(Someone)/inbox`, { headers }),
      404,
      1001,
      'No such resource: the user segment "gt(Someone)" is not of the form xuid(<XUID>), as in /users/xuid(2533274790412952)/inbox.',
    );
  });

  it('should answer 400 for a body that is not JSON', async () => {
    await expectErrorResponse(
      await putUser('{"gamertag": ', 'application/json'),
      400,
      1002,
      "The request body is not valid JSON (Object value expected after ':' at position 13).",
    );
  });

  it('should answer 400 (not 415) for a body of another media type, or none named', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded', undefined]) {
      await expectErrorResponse(
        await putUser(`{"gamertag":"${uniqueGamertag()}"}`, contentType),
        400,
        1003,
        'Content-Type must be application/json (parameters such as charset=utf-8 are allowed).',
      );
    }
  });

  it('should accept application/json with parameters', async () => {
    const response = await putUser(`{"gamertag":"${uniqueGamertag()}"}`, 'application/json; charset=utf-8');
    expect(response.status).toBe(201);
  });

  it('should answer 413 for a body over 64 KiB, and accept one of exactly 64 KiB', async () => {
    const padded = (size: number) => {
      const head = `{"gamertag":"${uniqueGamertag()}","pad":"`;
      return Buffer.from(head + 'x'.repeat(size - head.length - 2) + '"}');
    };
    await expectErrorResponse(
      await putUser(padded(64 * 1024 + 1), 'application/json'),
      413,
      1004,
      'The request body is larger than 64 KiB (65536 bytes); send a smaller body.',
    );
    expect((await putUser(padded(64 * 1024), 'application/json')).status).toBe(201);
  });

  it('should answer 503 with Retry-After when Postgres is unavailable, revealing nothing else', async () => {
    const target = new URL(testDatabaseUrl());
    const proxy = await new TcpProxy(target.hostname, Number(target.port)).start();
    const gateway = await startGateway({ QUOTA_PORT: stack.quota.rpcPort, DATABASE_URL: proxy.rewrite(testDatabaseUrl()) });
    try {
      await proxy.stop();
      const response = await fetch(`${gateway.internalUrl}/admin/users/${uniqueXuid()}`, { headers: ADMIN_HEADERS });
      expect(response.headers.get('retry-after')).toBe('1');
      await expectErrorResponse(response, 503, 1006, 'A dependency is unavailable; retry later.');
    } finally {
      await proxy.start();
      await gateway.close();
      await proxy.stop();
    }
  });
});
