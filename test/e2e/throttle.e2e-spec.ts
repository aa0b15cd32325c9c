import { ERRORS } from '@app/shared/errors';
import { OutboxRows, QuotaKeys, send } from '../factories/outbox.factory';
import { ADMIN_HEADERS, bearer, createUser, TestUser } from '../factories/users.factory';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, Settings, startStack } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { testRedisUrl } from '../setup/test-env';

/** The production defaults: test/setup/services.ts turns the throttle off for the other suites. */
const DEFAULTS: Settings = {
  THROTTLE_BURST_REQUESTS: undefined,
  THROTTLE_SUSTAIN_REQUESTS: undefined,
  THROTTLE_FAILED_AUTH_REQUESTS: undefined,
};

interface Answer {
  status: number;
  retryAfter: number | null;
  body: Record<string, unknown> | null;
}

async function answer(response: Response): Promise<Answer> {
  const text = await response.text();
  const retryAfter = response.headers.get('retry-after');
  return {
    status: response.status,
    retryAfter: retryAfter === null ? null : Number(retryAfter),
    body: text ? JSON.parse(text) : null,
  };
}

const inboxOf = (gateway: RunningGateway, user: TestUser, headers: Record<string, string>): Promise<Answer> =>
  fetch(`${gateway.url}/users/xuid(${user.xuid})/inbox`, { headers }).then(answer);

/** Requests one after another (each must be counted before the next), their answers in order. */
async function inSeries(count: number, request: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < count; i++) answers.push(await request());
  return answers;
}

const throttled = (
  type: 'burst' | 'sustain' | 'authentication',
  currentRequests: number,
  maxRequests: number,
  periodInSeconds: number,
) => {
  const definition = type === 'authentication' ? ERRORS.AUTHENTICATION_THROTTLED : ERRORS.REQUESTS_THROTTLED;
  const what = type === 'authentication' ? 'failed authentications from this address' : 'requests from this user';
  return {
    errorSource: definition.source,
    errorCode: definition.code,
    errorMessage: expect.stringMatching(
      new RegExp(
        `^Too many ${what}: ${currentRequests} in ${periodInSeconds} s, the ${type} limit is ${maxRequests}\\. Retry after \\d+ s\\.$`,
      ),
    ),
    version: 1,
    type,
    currentRequests,
    maxRequests,
    periodInSeconds,
  };
};

describe('request throttling', () => {
  const stacks: Awaited<ReturnType<typeof startStack>>[] = [];
  const prefixes: string[] = [];

  /** A gateway (and quota) on a Redis namespace of its own, so no other suite's counts reach it. */
  async function gatewayWith(settings: Settings, prefix = privateRedisPrefix('throttle')): Promise<RunningGateway> {
    prefixes.push(prefix);
    const stack = await startStack({
      gateway: { REDIS_PREFIX: prefix, ...DEFAULTS, ...settings },
      quota: { REDIS_PREFIX: prefix },
    });
    stacks.push(stack);
    return stack.gateway;
  }

  afterAll(async () => {
    for (const stack of stacks) await stack.close();
    for (const prefix of prefixes) await deleteRedisKeys(prefix);
  });

  describe('per user, with the default limits (60 in 15 s, 600 in 300 s)', () => {
    it('should answer the 61st request in 15 s with 429, Retry-After and the limit figures, and leave other users alone', async () => {
      const gateway = await gatewayWith({});
      const [user, other] = [await createUser(gateway.internalUrl), await createUser(gateway.internalUrl)];
      const headers = await bearer(user.xuid);

      const first = await inSeries(60, () => inboxOf(gateway, user, headers));
      expect(first.map((a) => a.status)).toEqual(Array(60).fill(200));
      const refused = await inboxOf(gateway, user, headers);

      expect(refused).toEqual({ status: 429, retryAfter: expect.any(Number), body: throttled('burst', 61, 60, 15) });
      expect(refused.retryAfter).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfter).toBeLessThanOrEqual(15);
      expect((await inboxOf(gateway, other, await bearer(other.xuid))).status).toBe(200);
    });
  });

  describe('per user, with small limits', () => {
    it('should count refused requests too, and let the user back in when the window ends', async () => {
      const gateway = await gatewayWith({ THROTTLE_BURST_REQUESTS: 3, THROTTLE_BURST_SECONDS: 2 });
      const user = await createUser(gateway.internalUrl);
      const headers = await bearer(user.xuid);

      const answers = await inSeries(5, () => inboxOf(gateway, user, headers));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429, 429]);
      expect(answers[4].body).toEqual(throttled('burst', 5, 3, 2));
      expect(answers[4].retryAfter).toBeLessThanOrEqual(2);

      await new Promise((resolve) => setTimeout(resolve, 2100));
      expect((await inboxOf(gateway, user, headers)).status).toBe(200);
    });

    it('should refuse past the sustain limit with type "sustain" and a longer Retry-After', async () => {
      const gateway = await gatewayWith({ THROTTLE_BURST_REQUESTS: 100, THROTTLE_SUSTAIN_REQUESTS: 4 });
      const user = await createUser(gateway.internalUrl);
      const headers = await bearer(user.xuid);

      const answers = await inSeries(5, () => inboxOf(gateway, user, headers));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 429]);
      expect(answers[4].body).toEqual(throttled('sustain', 5, 4, 300));
      expect(answers[4].retryAfter).toBeGreaterThan(15);
      expect(answers[4].retryAfter).toBeLessThanOrEqual(300);
    });

    it('should share the counts between gateway replicas', async () => {
      const prefix = privateRedisPrefix('throttle-shared');
      const settings = { THROTTLE_BURST_REQUESTS: 4 };
      const [a, b] = [await gatewayWith(settings, prefix), await gatewayWith(settings, prefix)];
      const user = await createUser(a.internalUrl);
      const headers = await bearer(user.xuid);

      const answers = [
        await inboxOf(a, user, headers),
        await inboxOf(b, user, headers),
        await inboxOf(a, user, headers),
        await inboxOf(b, user, headers),
        await inboxOf(a, user, headers),
      ];
      expect(answers.map((x) => x.status)).toEqual([200, 200, 200, 200, 429]);
      expect(answers[4].body).toEqual(throttled('burst', 5, 4, 15));
    });

    it('should refuse a send past the limit before it reaches quota or the database', async () => {
      const prefix = privateRedisPrefix('throttle-send');
      const gateway = await gatewayWith({ THROTTLE_BURST_REQUESTS: 1 }, prefix);
      const [sender, recipient] = [await createUser(gateway.internalUrl), await createUser(gateway.internalUrl)];
      const rows = await OutboxRows.open();
      const quota = new QuotaKeys(prefix);
      try {
        expect((await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }])).status).toBe(200);
        const refused = await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }]);

        expect({ status: refused.status, body: refused.body }).toEqual({ status: 429, body: throttled('burst', 2, 1, 15) });
        expect(await rows.countOf(sender.xuid)).toBe(1);
        expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 1, strangers: 1 });
      } finally {
        await rows.close();
        await quota.close();
      }
    });

    it('should not count anything with both limits at 0', async () => {
      const gateway = await gatewayWith({ THROTTLE_BURST_REQUESTS: 0, THROTTLE_SUSTAIN_REQUESTS: 0 });
      const user = await createUser(gateway.internalUrl);
      const answers = await inSeries(70, async () => inboxOf(gateway, user, await bearer(user.xuid)));
      expect(answers.every((a) => a.status === 200)).toBe(true);
    });
  });

  describe('failed authentications per client address', () => {
    it('should answer 429 past the limit to bad tokens only: a valid token from the same address still passes', async () => {
      const gateway = await gatewayWith({ THROTTLE_FAILED_AUTH_REQUESTS: 3, THROTTLE_FAILED_AUTH_SECONDS: 60 });
      const user = await createUser(gateway.internalUrl);
      const bad = { authorization: 'Bearer not-a-token' };

      const answers = [
        await inboxOf(gateway, user, bad),
        await inboxOf(gateway, user, {}),
        await inboxOf(gateway, user, bad),
        await inboxOf(gateway, user, bad),
      ];
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 429]);
      expect(answers[3].body).toEqual(throttled('authentication', 4, 3, 60));
      expect(answers[3].retryAfter).toBeGreaterThan(50);
      expect((await inboxOf(gateway, user, await bearer(user.xuid))).status).toBe(200);
    });

    it('should count wrong admin tokens as failed authentications', async () => {
      const gateway = await gatewayWith({ THROTTLE_FAILED_AUTH_REQUESTS: 2 });
      const admin = (headers: Record<string, string>) =>
        fetch(`${gateway.internalUrl}/admin/users/2533274790412952`, { headers }).then(answer);
      const wrong = { authorization: 'Bearer wrong-admin-token-0000' };

      expect([(await admin(wrong)).status, (await admin(wrong)).status, (await admin(wrong)).status]).toEqual([401, 401, 429]);
      expect((await admin(ADMIN_HEADERS)).status).toBe(404);
    });

    it('should count per forwarded address behind a trusted proxy', async () => {
      const gateway = await gatewayWith({ THROTTLE_FAILED_AUTH_REQUESTS: 1, TRUST_PROXY: 'true' });
      const user = await createUser(gateway.internalUrl);
      const from = (address: string) => ({ authorization: 'Bearer nope', 'x-forwarded-for': address });

      expect((await inboxOf(gateway, user, from('203.0.113.7'))).status).toBe(401);
      expect((await inboxOf(gateway, user, from('203.0.113.7'))).status).toBe(429);
      expect((await inboxOf(gateway, user, from('198.51.100.9'))).status).toBe(401);
    });
  });

  describe('without Redis', () => {
    const redis = new TcpProxy(new URL(testRedisUrl()).hostname, Number(new URL(testRedisUrl()).port || 6379));

    afterAll(async () => {
      await redis.start().catch(() => undefined);
      // Let the gateway's client reconnect so it can quit cleanly.
      await new Promise((resolve) => setTimeout(resolve, 1500));
      for (const stack of stacks.splice(0)) await stack.close();
      await redis.stop();
    });

    it('should let requests through uncounted, so reads keep working', async () => {
      await redis.start();
      const gateway = await gatewayWith({ THROTTLE_BURST_REQUESTS: 2, REDIS_URL: redis.rewrite(testRedisUrl()) });
      const user = await createUser(gateway.internalUrl);
      const headers = await bearer(user.xuid);
      expect((await inSeries(3, () => inboxOf(gateway, user, headers))).map((a) => a.status)).toEqual([200, 200, 429]);

      await redis.stop();
      const answers = await inSeries(5, () => inboxOf(gateway, user, headers));
      expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
      const metrics = await (await fetch(`${gateway.internalUrl}/metrics`)).text();
      expect(metrics).toMatch(/gateway_throttle_decisions_total\{limit="user",outcome="uncounted"\} 5/);
      expect(metrics).toMatch(/gateway_throttle_decisions_total\{limit="user",outcome="throttled"\} 1/);
    });
  });
});
