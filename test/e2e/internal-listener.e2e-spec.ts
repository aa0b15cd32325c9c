import { createServer, Server } from 'node:net';
import { connect } from 'node:net';
import { ERRORS } from '@app/shared/errors';
import { ADMIN_HEADERS, bearer, createUser, uniqueXuid } from '../factories/users.factory';
import { freePort } from '../setup/free-port';
import { RunningGateway, startGateway, startStack } from '../setup/services';

const NOT_FOUND = {
  errorSource: ERRORS.ROUTE_NOT_FOUND.source,
  errorCode: ERRORS.ROUTE_NOT_FOUND.code,
  errorMessage: ERRORS.ROUTE_NOT_FOUND.message,
};

/** Writes raw bytes to a port and reads the answer until the server closes. */
function rawExchange(port: number, bytes: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => (answer += chunk.toString()));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(bytes);
  });
}

describe('the internal listener (/admin, /metrics, /docs off the public port)', () => {
  let stack: Awaited<ReturnType<typeof startStack>>;
  let gateway: RunningGateway;

  beforeAll(async () => {
    stack = await startStack();
    gateway = stack.gateway;
  });

  afterAll(async () => {
    await stack?.close();
  });

  it('should listen on a port of its own', () => {
    expect(new URL(gateway.internalUrl).port).not.toBe(new URL(gateway.url).port);
  });

  it.each([
    ['GET', `/admin/users/${uniqueXuid()}`],
    ['PUT', `/admin/users/${uniqueXuid()}`],
    ['GET', '/metrics'],
    ['GET', '/docs'],
    ['GET', '/docs/json'],
    ['GET', '/docs/swagger-ui.css'],
  ])('should answer %s %s on the public port like an unknown path: 404 with the errorResponse', async (method, path) => {
    const response = await fetch(`${gateway.url}${path}`, {
      method,
      headers: { ...ADMIN_HEADERS, 'content-type': 'application/json' },
      body: method === 'PUT' ? JSON.stringify({ gamertag: 'Hidden' }) : undefined,
    });
    expect(response.status).toBe(404);
    expect(await response.json()).toEqual(NOT_FOUND);
    const unknown = await fetch(`${gateway.url}/no-such-path`, { headers: ADMIN_HEADERS });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual(NOT_FOUND);
  });

  it('should have created no user through the public port', async () => {
    const xuid = uniqueXuid();
    await fetch(`${gateway.url}/admin/users/${xuid}`, {
      method: 'PUT',
      headers: { ...ADMIN_HEADERS, 'content-type': 'application/json' },
      body: JSON.stringify({ gamertag: 'NotCreated' }),
    });
    expect((await fetch(`${gateway.internalUrl}/admin/users/${xuid}`, { headers: ADMIN_HEADERS })).status).toBe(404);
  });

  it('should serve the admin API, the metrics and the OpenAPI document on the internal port', async () => {
    const user = await createUser(gateway.internalUrl);
    const detail = await fetch(`${gateway.internalUrl}/admin/users/${user.xuid}`, { headers: ADMIN_HEADERS });
    expect(detail.status).toBe(200);
    expect(await detail.json()).toMatchObject({ xuid: user.xuid, gamertag: user.gamertag });

    const metrics = await fetch(`${gateway.internalUrl}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toMatch(/^# HELP /m);

    const docs = await fetch(`${gateway.internalUrl}/docs/json`);
    expect(docs.status).toBe(200);
    expect(((await docs.json()) as { openapi: string }).openapi).toMatch(/^3\./);
  });

  it('should serve the player API on both ports, so Swagger UI can try it from /docs', async () => {
    const user = await createUser(gateway.internalUrl);
    for (const base of [gateway.url, gateway.internalUrl]) {
      const response = await fetch(`${base}/users/xuid(${user.xuid})/inbox`, { headers: await bearer(user.xuid) });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
    }
  });

  it('should answer the probes on both ports', async () => {
    for (const base of [gateway.url, gateway.internalUrl]) {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    }
  });

  it('should answer malformed HTTP on the internal port with the errorResponse, as on the public one', async () => {
    const answer = await rawExchange(Number(new URL(gateway.internalUrl).port), 'GET /metrics HTTP/1.1\r\nHost x\r\n\r\n');
    expect(answer).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toMatchObject({ errorCode: ERRORS.BAD_REQUEST.code });
  });

  it('should echo X-Request-Id on the internal port too', async () => {
    const response = await fetch(`${gateway.internalUrl}/healthz`, { headers: { 'x-request-id': 'trace-me-42' } });
    expect(response.headers.get('x-request-id')).toBe('trace-me-42');
  });
});

describe('the internal listener, configured', () => {
  it('should serve everything on the public port with INTERNAL_LISTENER=false', async () => {
    const gateway = await startGateway({ INTERNAL_LISTENER: 'false' });
    try {
      expect(gateway.internalUrl).toBe(gateway.url);
      expect((await fetch(`${gateway.url}/metrics`)).status).toBe(200);
      expect((await fetch(`${gateway.url}/admin/users/${uniqueXuid()}`, { headers: ADMIN_HEADERS })).status).toBe(404);
      const user = await createUser(gateway.url);
      expect((await fetch(`${gateway.url}/admin/users/${user.xuid}`, { headers: ADMIN_HEADERS })).status).toBe(200);
    } finally {
      await gateway.close();
    }
  });

  it('should refuse to start when INTERNAL_PORT is taken, naming the address', async () => {
    const port = await freePort();
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
    try {
      await expect(startGateway({ INTERNAL_PORT: port })).rejects.toThrow(new RegExp(`EADDRINUSE.*127\\.0\\.0\\.1:${port}`));
    } finally {
      squatter.close();
    }
  });

  it('should stop listening on the internal port when the gateway closes', async () => {
    const gateway = await startGateway();
    const port = Number(new URL(gateway.internalUrl).port);
    expect((await fetch(`${gateway.internalUrl}/healthz`)).status).toBe(200);
    await gateway.close();
    await expect(rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')).rejects.toThrow(/ECONNREFUSED/);
  });
});
