import { bearer, createUser } from '../factories/users.factory';
import { inboxPath, request } from '../factories/inbox.factory';
import { send } from '../factories/outbox.factory';
import { RunningQuota, RunningService, startDelivery, startGateway, startQuota, startStack } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { testDatabaseUrl, testRedisUrl } from '../setup/test-env';

const proxyFor = (url: string): TcpProxy => {
  const parsed = new URL(url);
  return new TcpProxy(parsed.hostname, Number(parsed.port));
};

async function ready(service: RunningService): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${service.url}/readyz`);
  return { status: response.status, body: await response.json() };
}

/** Readiness settles within the probe timeout; poll briefly rather than sleep. */
async function eventually(
  service: RunningService,
  status: number,
  state?: 'ready' | 'degraded',
): Promise<{ status: number; body: unknown }> {
  const settled = (last: { status: number; body: unknown }): boolean =>
    last.status === status && (state === undefined || (last.body as { status?: string }).status === state);
  let last = await ready(service);
  for (let attempt = 0; attempt < 40 && !settled(last); attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 250));
    last = await ready(service);
  }
  return last;
}

describe('health and readiness', () => {
  const postgres = proxyFor(testDatabaseUrl());
  const redis = proxyFor(testRedisUrl());
  let stack: Awaited<ReturnType<typeof startStack>>;
  let delivery: RunningService;

  beforeAll(async () => {
    await postgres.start();
    await redis.start();
    const through = { DATABASE_URL: postgres.rewrite(testDatabaseUrl()), REDIS_URL: redis.rewrite(testRedisUrl()) };
    stack = await startStack({ gateway: through, quota: through });
    delivery = await startDelivery(through);
  });

  afterAll(async () => {
    await postgres.start().catch(() => undefined);
    await redis.start().catch(() => undefined);
    // Let every client reconnect first: BullMQ cannot QUIT a connection that is
    // still reconnecting after the outage.
    if (delivery) await eventually(delivery, 200);
    if (stack) await eventually(stack.gateway, 200, 'ready');
    await delivery?.close();
    await stack?.close();
    await postgres.stop();
    await redis.stop();
  });

  it('should answer /healthz 200 without touching dependencies', async () => {
    await redis.stop();
    await postgres.stop();
    try {
      for (const service of [stack.gateway, stack.quota, delivery]) {
        const response = await fetch(`${service.url}/healthz`);
        expect(response.status).toBe(200);
        expect(response.headers.get('cache-control')).toBe('no-store');
        expect(await response.json()).toEqual({ status: 'ok' });
      }
    } finally {
      await redis.start();
      await postgres.start();
    }
  });

  it('should answer /readyz 200 on every service when Postgres, Redis and quota answer', async () => {
    expect(await eventually(stack.gateway, 200, 'ready')).toEqual({
      status: 200,
      body: { status: 'ready', checks: { postgres: 'up', redis: 'up', quota: 'up' } },
    });
    expect(await eventually(stack.quota, 200)).toEqual({ status: 200, body: { status: 'ready', checks: { redis: 'up' } } });
    expect(await eventually(delivery, 200)).toEqual({
      status: 200,
      body: { status: 'ready', checks: { postgres: 'up', redis: 'up' } },
    });
  });

  it('should keep the gateway ready but degraded while Redis is away: reads served, sends 503 at once', async () => {
    const owner = await createUser(stack.gateway.internalUrl);
    await redis.stop();
    try {
      // Quota depends on Redis too, so the gateway sees both down; Postgres alone serves reads.
      expect(await eventually(stack.gateway, 200, 'degraded')).toEqual({
        status: 200,
        body: {
          status: 'degraded',
          checks: { postgres: 'up', redis: 'down', quota: 'down' },
          reasons: { quota: 'answered an error: A dependency is unavailable; retry later. (errorCode 1006)' },
        },
      });
      expect((await eventually(stack.quota, 503)).status).toBe(503);
      expect((await eventually(delivery, 503)).body).toEqual({
        errorSource: 'gateway',
        errorCode: 1008,
        errorMessage: 'Not ready: redis unavailable.',
      });

      const inbox = await request(stack.gateway.url, 'GET', inboxPath(owner.xuid), await bearer(owner.xuid));
      expect(inbox.status).toBe(200);
      expect(inbox.body).toEqual({ results: [], pagingInfo: { continuationToken: null, totalItems: 0 } });
      // Quota answers its error at once (it no longer leaves the gateway to time out).
      const refused = await send(stack.gateway.url, owner.xuid, [{ xuid: owner.xuid }]);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body).toMatchObject({ errorSource: 'gateway', errorCode: 1006 });
    } finally {
      await redis.start();
    }
    expect(await eventually(stack.gateway, 200, 'ready')).toEqual({
      status: 200,
      body: { status: 'ready', checks: { postgres: 'up', redis: 'up', quota: 'up' } },
    });
    expect((await eventually(delivery, 200)).status).toBe(200);
  });

  it('should turn /readyz 503 when Postgres stops, and 200 again when it is back', async () => {
    await postgres.stop();
    expect(await eventually(stack.gateway, 503)).toEqual({
      status: 503,
      body: { errorSource: 'gateway', errorCode: 1008, errorMessage: 'Not ready: postgres unavailable.' },
    });
    expect((await eventually(delivery, 503)).body).toEqual({
      errorSource: 'gateway',
      errorCode: 1008,
      errorMessage: 'Not ready: postgres unavailable.',
    });
    await postgres.start();
    expect((await eventually(stack.gateway, 200)).status).toBe(200);
    expect((await eventually(delivery, 200)).status).toBe(200);
  });

  it('should keep the gateway ready but degraded when the quota service stops', async () => {
    let quota: RunningQuota | null = await startQuota();
    const gateway = await startGateway({ QUOTA_PORT: quota.rpcPort });
    try {
      expect((await eventually(gateway, 200, 'ready')).status).toBe(200);
      await quota.close();
      quota = null;
      expect(await eventually(gateway, 200, 'degraded')).toEqual({
        status: 200,
        body: {
          status: 'degraded',
          checks: { postgres: 'up', redis: 'up', quota: 'down' },
          reasons: { quota: 'unreachable: ECONNREFUSED' },
        },
      });
    } finally {
      await gateway.close();
      await quota?.close();
    }
  });
});
