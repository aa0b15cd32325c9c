import { setTimeout as sleep } from 'node:timers/promises';
import { ulid } from 'ulid';
import { QuotaLimit, QuotaReleaseRequest, QuotaReserveRequest, QuotaReserveResult } from '@app/shared/contracts';
import { Xuid } from '@app/shared/xuid';
import { QuotaKeys } from '../factories/outbox.factory';
import { uniqueXuid } from '../factories/users.factory';
import { QuotaRpc } from '../setup/quota-rpc';
import { privateRedisPrefix } from '../setup/redis-namespace';
import { TcpProxy } from '../setup/tcp-proxy';
import { testRedisUrl } from '../setup/test-env';
import { RunningQuota, Settings, startQuota, waitUntilReady } from '../setup/services';

const ACCEPTED: QuotaReserveResult = { accepted: true };

describe('quota service (RPC and Lua against real Redis)', () => {
  const prefix = privateRedisPrefix('quota-int');
  let keys: QuotaKeys;

  beforeAll(() => {
    keys = new QuotaKeys(prefix);
  });

  afterAll(async () => {
    await keys?.close();
  });

  /** Quota services with their own settings, and an RPC client for each, for one describe block. */
  function useQuota(settings: Settings, replicas = 1): { rpc: (replica?: number) => QuotaRpc } {
    const services: RunningQuota[] = [];
    const clients: QuotaRpc[] = [];
    beforeAll(async () => {
      for (let i = 0; i < replicas; i++) {
        const quota = await startQuota({ REDIS_PREFIX: prefix, ...settings });
        services.push(quota);
        await waitUntilReady(quota);
        const client = new QuotaRpc(quota.rpcPort);
        await client.connect();
        clients.push(client);
      }
    });
    afterAll(async () => {
      for (const client of clients) await client.close();
      for (const quota of services) await quota.close();
    });
    return { rpc: (replica = 0) => clients[replica] };
  }

  const reservation = (senderXuid: Xuid, recipients = 1, strangers = 0, messageId = ulid()): QuotaReserveRequest => ({
    senderXuid,
    messageId,
    recipients,
    strangers,
    sentAt: Date.now(),
  });
  const releaseOf = (request: QuotaReserveRequest): QuotaReleaseRequest => ({
    senderXuid: request.senderXuid,
    messageId: request.messageId,
    sentAt: request.sentAt,
  });

  describe('with 3 messages, 5 recipients and 4 strangers per day, and 2 strangers per message', () => {
    const { rpc } = useQuota({
      LIMIT_MESSAGES_PER_DAY: 3,
      LIMIT_RECIPIENTS_PER_DAY: 5,
      LIMIT_STRANGERS_PER_DAY: 4,
      LIMIT_STRANGERS_PER_MESSAGE: 2,
    });

    it('should record an accepted reservation in the sender log and sums, expiring within the window', async () => {
      const sender = uniqueXuid();
      const request = reservation(sender, 3, 2);

      expect(await rpc().reserve(request)).toEqual(ACCEPTED);

      expect(await keys.usage(sender)).toEqual({ messages: 1, recipients: 3, strangers: 2 });
      expect(await keys.redis.zrange(keys.keysOf(sender).log, 0, -1)).toEqual([request.messageId]);
      expect(await keys.redis.hgetall(keys.keysOf(sender).data)).toEqual({ [request.messageId]: '3:2' });
      for (const ttl of await keys.ttls(sender)) {
        expect(ttl).toBeGreaterThan(86_400_000 - 5000);
        expect(ttl).toBeLessThanOrEqual(86_400_000);
      }
    });

    it('should charge once when the same message id is reserved twice, even when the window is full', async () => {
      const sender = uniqueXuid();
      const first = reservation(sender, 2, 1);

      expect(await rpc().reserve(first)).toEqual(ACCEPTED);
      expect(await rpc().reserve(first)).toEqual(ACCEPTED);
      expect(await keys.usage(sender)).toEqual({ messages: 1, recipients: 2, strangers: 1 });

      expect(await rpc().reserve(reservation(sender, 1, 0))).toEqual(ACCEPTED);
      expect(await rpc().reserve(reservation(sender, 1, 0))).toEqual(ACCEPTED);
      // Full now (3 messages), but a retried reserve of an accepted message is still accepted, and free.
      expect(await rpc().reserve(first)).toEqual(ACCEPTED);
      expect(await keys.usage(sender)).toEqual({ messages: 3, recipients: 4, strangers: 1 });
    });

    it('should give everything back on release, once, so the freed capacity can be used again', async () => {
      const sender = uniqueXuid();
      const kept = reservation(sender, 2, 2);
      const released = reservation(sender, 2, 2);
      for (const request of [kept, released, reservation(sender, 1, 0)]) expect(await rpc().reserve(request)).toEqual(ACCEPTED);
      const next = reservation(sender, 2, 1);
      expect(await rpc().reserve(next)).toMatchObject({ accepted: false, limit: QuotaLimit.MessagesPerWindow });

      expect(await rpc().release(releaseOf(released))).toEqual({ released: true });
      expect(await rpc().release(releaseOf(released))).toEqual({ released: false });
      expect(await rpc().release(releaseOf(reservation(sender)))).toEqual({ released: false });
      expect(await keys.usage(sender)).toEqual({ messages: 2, recipients: 3, strangers: 2 });
      // Two charged, and two tombstones (their counts kept, for a confirm that finds the message stored after all).
      expect(await keys.logSize(sender)).toEqual({ log: 2, data: 4 });

      expect(await rpc().reserve(next)).toEqual(ACCEPTED);
      expect(await keys.usage(sender)).toEqual({ messages: 3, recipients: 5, strangers: 3 });
    });

    it('should release a reservation without strangers', async () => {
      const sender = uniqueXuid();
      const request = reservation(sender, 1, 0);
      expect(await rpc().reserve(request)).toEqual(ACCEPTED);

      expect(await rpc().release(releaseOf(request))).toEqual({ released: true });

      expect(await keys.redis.hgetall(keys.keysOf(sender).sums)).toEqual({ messages: '0', recipients: '0', strangers: '0' });
    });

    it('should refuse with the limit, its value, the window and the seconds until the send fits', async () => {
      const sender = uniqueXuid();
      const since = Date.now();
      expect(await rpc().reserve(reservation(sender, 2, 2))).toEqual(ACCEPTED);
      expect(await rpc().reserve(reservation(sender, 2, 2))).toEqual(ACCEPTED);

      const results = [
        await rpc().reserve(reservation(sender, 1, 1)),
        await rpc().reserve(reservation(sender, 2, 0)),
        await rpc().reserve(reservation(sender, 3, 3)),
      ];

      const elapsed = Math.ceil((Date.now() - since) / 1000);
      expect(results).toEqual([
        {
          accepted: false,
          limit: QuotaLimit.StrangersPerWindow,
          max: 4,
          windowSeconds: 86_400,
          retryAfterSeconds: expect.any(Number),
        },
        {
          accepted: false,
          limit: QuotaLimit.RecipientsPerWindow,
          max: 5,
          windowSeconds: 86_400,
          retryAfterSeconds: expect.any(Number),
        },
        { accepted: false, limit: QuotaLimit.StrangersPerMessage, max: 2, windowSeconds: 86_400, retryAfterSeconds: -1 },
      ]);
      for (const result of results.slice(0, 2)) {
        const { retryAfterSeconds } = result as { retryAfterSeconds: number };
        expect(retryAfterSeconds).toBeLessThanOrEqual(86_400);
        expect(retryAfterSeconds).toBeGreaterThanOrEqual(86_400 - elapsed);
      }
      expect(await keys.usage(sender)).toEqual({ messages: 2, recipients: 4, strangers: 4 });
    });

    it('should answer -1 when the send is bigger than a whole window allows', async () => {
      const sender = uniqueXuid();
      expect(await rpc().reserve(reservation(sender, 6, 0))).toEqual({
        accepted: false,
        limit: QuotaLimit.RecipientsPerWindow,
        max: 5,
        windowSeconds: 86_400,
        retryAfterSeconds: -1,
      });
      expect(await keys.usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0 });
    });
  });

  describe('reservation life cycle, with 3 messages per day and 1 s to confirm', () => {
    const { rpc } = useQuota({ LIMIT_MESSAGES_PER_DAY: 3, QUOTA_PENDING_SECONDS: 1 });
    const GIVEN_UP = { accepted: false, givenUp: true };

    it('should keep a confirmed charge past the deadline, and give an unconfirmed one back', async () => {
      const sender = uniqueXuid();
      const stored = reservation(sender, 2, 1);
      const abandoned = reservation(sender, 3, 0);
      expect(await rpc().reserve(stored)).toEqual(ACCEPTED);
      expect(await rpc().reserve(abandoned)).toEqual(ACCEPTED);
      expect(await rpc().usage(sender)).toEqual({ messages: 2, recipients: 5, strangers: 1, pending: 2 });

      expect(await rpc().confirm(stored)).toEqual({ confirmed: 1 });
      expect(await rpc().confirm(stored)).toEqual({ confirmed: 0 });
      expect(await rpc().usage(sender)).toEqual({ messages: 2, recipients: 5, strangers: 1, pending: 1 });

      await sleep(1200);
      // The gateway that reserved `abandoned` never stored it (it died): the charge lapsed.
      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 2, strangers: 1, pending: 0 });
      // And a reserve of it arriving this late is refused, not charged.
      expect(await rpc().reserve(abandoned)).toEqual(GIVEN_UP);
      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 2, strangers: 1, pending: 0 });
    });

    it('should charge a lapsed reservation again when its message turns out stored (delivery confirms it)', async () => {
      const sender = uniqueXuid();
      const late = reservation(sender, 4, 2);
      expect(await rpc().reserve(late)).toEqual(ACCEPTED);
      await sleep(1200);
      expect(await rpc().usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });

      expect(await rpc().confirm(late)).toEqual({ confirmed: 0 });

      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 4, strangers: 2, pending: 0 });
    });

    it('should refuse a reserve that reaches Redis after its release, and charge nothing', async () => {
      const sender = uniqueXuid();
      const request = reservation(sender, 1, 1);

      expect(await rpc().release(releaseOf(request))).toEqual({ released: false });
      expect(await rpc().reserve(request)).toEqual(GIVEN_UP);

      expect(await rpc().usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });
      expect(await rpc().reserve(reservation(sender, 1, 1))).toEqual(ACCEPTED);
    });

    it('should charge again a message released after a COMMIT whose acknowledgement was lost', async () => {
      const sender = uniqueXuid();
      const request = reservation(sender, 2, 0);
      expect(await rpc().reserve(request)).toEqual(ACCEPTED);
      expect(await rpc().release(releaseOf(request))).toEqual({ released: true });
      expect(await rpc().usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });

      // Delivery finds the message stored and confirms it.
      expect(await rpc().confirm(request)).toEqual({ confirmed: 0 });

      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 2, strangers: 0, pending: 0 });
      expect(await rpc().confirm(request)).toEqual({ confirmed: 0 });
      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 2, strangers: 0, pending: 0 });
    });

    it('should charge a stored message whose reservation the ledger lost, when the confirm carries it', async () => {
      const sender = uniqueXuid();
      const stored = reservation(sender, 3, 2);
      expect(await rpc().reserve(stored)).toEqual(ACCEPTED);
      // A Redis failover: the dead master acknowledged the reserve and never replicated it.
      await keys.forget(sender);
      expect(await rpc().usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });

      // Delivery's confirm has only the id: nothing to charge it from.
      expect(await rpc().confirm(stored)).toEqual({ confirmed: 0 });
      expect(await rpc().usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });
      // The gateway's carries the reservation: charged for good, once however often it comes.
      expect(await rpc().confirmReserved(stored)).toEqual({ confirmed: 0 });
      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 3, strangers: 2, pending: 0 });
      expect(await rpc().confirmReserved(stored)).toEqual({ confirmed: 0 });
      expect(await rpc().confirm(stored)).toEqual({ confirmed: 0 });
      expect(await rpc().usage(sender)).toEqual({ messages: 1, recipients: 3, strangers: 2, pending: 0 });
      expect(await keys.logSize(sender)).toEqual({ log: 1, data: 1 });
      expect((await keys.ttls(sender)).every((ttl) => ttl > 0)).toBe(true);

      // It counts against the limits like any other charge (3 a day: two more fit).
      expect(await rpc().reserve(reservation(sender))).toEqual(ACCEPTED);
      expect(await rpc().reserve(reservation(sender))).toEqual(ACCEPTED);
      expect(await rpc().reserve(reservation(sender))).toMatchObject({ accepted: false, limit: QuotaLimit.MessagesPerWindow });
    });

    it('should not charge a lost reservation that has left the window', async () => {
      const sender = uniqueXuid();
      const old = { ...reservation(sender, 2, 1), sentAt: Date.now() - 86_400_000 - 1000 };

      expect(await rpc().confirmReserved(old)).toEqual({ confirmed: 0 });

      expect(await rpc().usage(sender)).toEqual({ messages: 0, recipients: 0, strangers: 0, pending: 0 });
      expect(await keys.logSize(sender)).toEqual({ log: 0, data: 0 });
    });

    it('should count pending charges against the limits', async () => {
      const sender = uniqueXuid();
      for (let i = 0; i < 3; i++) expect(await rpc().reserve(reservation(sender))).toEqual(ACCEPTED);

      expect(await rpc().reserve(reservation(sender))).toMatchObject({ accepted: false, limit: QuotaLimit.MessagesPerWindow });
    });
  });

  describe('while Redis is unreachable', () => {
    const proxy = new TcpProxy('127.0.0.1', Number(new URL(testRedisUrl()).port || 6379));
    let quota: RunningQuota;
    let client: QuotaRpc;

    beforeAll(async () => {
      await proxy.start();
      quota = await startQuota({ REDIS_PREFIX: prefix, REDIS_URL: proxy.rewrite(testRedisUrl()) });
      await waitUntilReady(quota);
      client = new QuotaRpc(quota.rpcPort);
      await client.connect();
    });

    afterAll(async () => {
      await client?.close();
      await quota?.close();
      await proxy.stop();
    });

    it('should answer a reserve with an error reply at once, not leave the caller to time out', async () => {
      await proxy.stop();

      // A caller waiting 10 s would see a TimeoutError if no reply came.
      const error = await client.reserve(reservation(uniqueXuid()), 10_000).catch((caught: unknown) => caught);

      expect(error).toEqual({ status: 503, errorCode: expect.any(Number), errorMessage: expect.any(String) });
      await proxy.start();
    });
  });

  describe('with the default limits', () => {
    const { rpc } = useQuota({});

    it('should allow 20 strangers in one message and refuse 21 for good', async () => {
      const sender = uniqueXuid();
      expect(await rpc().reserve(reservation(sender, 20, 20))).toEqual(ACCEPTED);
      expect(await rpc().reserve(reservation(sender, 21, 21))).toEqual({
        accepted: false,
        limit: QuotaLimit.StrangersPerMessage,
        max: 20,
        windowSeconds: 86_400,
        retryAfterSeconds: -1,
      });
    });
  });

  describe('with 10 messages per day on two quota replicas', () => {
    const { rpc } = useQuota({ LIMIT_MESSAGES_PER_DAY: 10 }, 2);

    it('should accept exactly 10 of 50 concurrent reservations spread over both replicas', async () => {
      const sender = uniqueXuid();

      const results = await Promise.all(Array.from({ length: 50 }, (_, i) => rpc(i % 2).reserve(reservation(sender, 1, 1))));

      expect(results.filter((result) => result.accepted).length).toBe(10);
      expect(
        new Set(results.filter((result) => !result.accepted).map((result) => (result as { limit: string }).limit)),
      ).toEqual(new Set([QuotaLimit.MessagesPerWindow]));
      expect(await keys.usage(sender)).toEqual({ messages: 10, recipients: 10, strangers: 10 });
      expect(await keys.logSize(sender)).toEqual({ log: 10, data: 10 });
    });
  });

  describe('with a rolling window of 3 seconds and 5 recipients', () => {
    const { rpc } = useQuota({ QUOTA_WINDOW_SECONDS: 3, LIMIT_RECIPIENTS_PER_DAY: 5 });

    it('should wait for as many old sends to leave as the new one needs, and trim them once gone', async () => {
      const sender = uniqueXuid();
      const firstFrom = Date.now();
      expect(await rpc().reserve(reservation(sender, 1))).toEqual(ACCEPTED);
      const firstTo = Date.now();
      await sleep(1100);
      const secondFrom = Date.now();
      expect(await rpc().reserve(reservation(sender, 4))).toEqual(ACCEPTED);
      const secondTo = Date.now();

      // 2 more recipients need the first send (1) and the second (4) to leave: about 3 s, not 1.9 s.
      const askedFrom = Date.now();
      const refused = (await rpc().reserve(reservation(sender, 2))) as { retryAfterSeconds: number };
      const askedTo = Date.now();
      expect(refused).toMatchObject({ accepted: false, limit: QuotaLimit.RecipientsPerWindow, max: 5, windowSeconds: 3 });
      const lowest = Math.ceil((secondFrom + 3000 - askedTo) / 1000);
      const highest = Math.ceil((secondTo + 3000 - askedFrom) / 1000);
      expect(refused.retryAfterSeconds).toBeGreaterThanOrEqual(lowest);
      expect(refused.retryAfterSeconds).toBeLessThanOrEqual(highest);
      // Longer than waiting for the first send alone would be.
      expect(refused.retryAfterSeconds).toBeGreaterThan(Math.ceil((firstTo + 3000 - askedFrom) / 1000));

      // Once the first send (no strangers) has left, one recipient fits again.
      await sleep(Math.max(0, firstFrom + 3000 + 150 - Date.now()));
      expect(await rpc().reserve(reservation(sender, 1))).toEqual(ACCEPTED);
      expect(await keys.usage(sender)).toEqual({ messages: 2, recipients: 5, strangers: 0 });
      expect(await keys.logSize(sender)).toEqual({ log: 2, data: 2 });
      for (const ttl of await keys.ttls(sender)) {
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(3000);
      }
    });
  });
});
