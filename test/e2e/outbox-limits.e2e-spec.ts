import { setTimeout as sleep } from 'node:timers/promises';
import { Xuid } from '@app/shared/xuid';
import { OutboxRows, QuotaKeys, Recipient, send, SendResponse } from '../factories/outbox.factory';
import { block, createUser, createUsers, makeFriends, TestUser } from '../factories/users.factory';
import { privateRedisPrefix } from '../setup/redis-namespace';
import { Settings, startStack } from '../setup/services';

const DAY_SECONDS = 86_400;

const byXuid = (users: TestUser[]): Recipient[] => users.map((user) => ({ xuid: user.xuid }));
const sleepUntil = (at: number): Promise<void> => sleep(Math.max(0, at - Date.now()));

function expectLimit(response: SendResponse, errorCode: number, errorMessage: string): void {
  expect({ status: response.status, body: response.body }).toEqual({
    status: 409,
    body: { errorSource: 'quota', errorCode, errorMessage },
  });
}

/**
 * The Retry-After of a refusal caused by a send accepted no earlier than
 * `since`: whole seconds, at most the window, and more than the window minus
 * the time elapsed since then (the earliest moment the send could fit).
 */
function retryAfterOf(response: SendResponse, windowSeconds: number, since: number): number {
  const header = response.headers.get('retry-after');
  expect(header).toMatch(/^[1-9][0-9]*$/);
  const value = Number(header);
  const elapsedSeconds = (Date.now() - since) / 1000;
  expect(value).toBeLessThanOrEqual(windowSeconds);
  expect(value).toBeGreaterThan(windowSeconds - elapsedSeconds);
  return value;
}

/**
 * Retry-After when the send that must leave the window was accepted (by
 * Redis's clock) within [acceptedFrom, acceptedTo] and the refusal was decided
 * within [askedFrom, askedTo]: ceil((accepted + window - asked) / 1000) for
 * some point of each range. Usually a single value.
 */
function possibleRetryAfters(windowMs: number, accepted: [number, number], asked: [number, number]): number[] {
  const lowest = Math.ceil((accepted[0] + windowMs - asked[1]) / 1000);
  const highest = Math.ceil((accepted[1] + windowMs - asked[0]) / 1000);
  return Array.from({ length: highest - lowest + 1 }, (_, i) => lowest + i);
}

async function timed(request: () => Promise<SendResponse>): Promise<{ response: SendResponse; from: number; to: number }> {
  const from = Date.now();
  const response = await request();
  return { response, from, to: Date.now() };
}

describe('outbox limits', () => {
  // Our own namespace inside the run's: these suites enqueue hundreds of jobs
  // that other suites' delivery workers should not have to drain.
  const prefix = privateRedisPrefix('limits');
  let rows: OutboxRows;
  let quota: QuotaKeys;

  beforeAll(async () => {
    rows = await OutboxRows.open();
    quota = new QuotaKeys(prefix);
  });

  afterAll(async () => {
    await quota?.close();
    await rows?.close();
  });

  /** A stack with its own quota settings, for one describe block. */
  function useStack(quotaSettings: Settings): { url: () => string; adminUrl: () => string } {
    let stack: Awaited<ReturnType<typeof startStack>>;
    beforeAll(async () => {
      stack = await startStack({ gateway: { REDIS_PREFIX: prefix }, quota: { REDIS_PREFIX: prefix, ...quotaSettings } });
    });
    afterAll(async () => {
      await stack?.close();
    });
    return { url: () => stack.gateway.url, adminUrl: () => stack.gateway.internalUrl };
  }

  /** A sender with `friends` friends and `strangers` other users to write to. */
  async function senderWith(adminUrl: string, friends: number, strangers: number) {
    const sender = await createUser(adminUrl);
    const friendUsers = await createUsers(adminUrl, friends);
    for (const friend of friendUsers) await makeFriends(adminUrl, sender.xuid, friend.xuid);
    return { sender, friends: friendUsers, strangers: await createUsers(adminUrl, strangers) };
  }

  describe('with 3 messages, 5 recipients and 4 strangers per day, and 2 strangers per message', () => {
    const { url, adminUrl } = useStack({
      LIMIT_MESSAGES_PER_DAY: 3,
      LIMIT_RECIPIENTS_PER_DAY: 5,
      LIMIT_STRANGERS_PER_DAY: 4,
      LIMIT_STRANGERS_PER_MESSAGE: 2,
    });

    it('should accept 2 strangers in one message and refuse 3 with 5001 and no Retry-After', async () => {
      const { sender, friends, strangers } = await senderWith(adminUrl(), 1, 3);

      expect((await send(url(), sender.xuid, byXuid([...strangers.slice(0, 2), ...friends]))).status).toBe(200);
      const refused = await send(url(), sender.xuid, byXuid(strangers));

      expectLimit(
        refused,
        5001,
        'Limit strangers-per-message reached: at most 2 strangers in one message. This message can never fit.',
      );
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 3, strangers: 2 });
      expect(await rows.countOf(sender.xuid)).toBe(1);
    });

    it("should charge a stored message whose reservation Redis lost before the gateway's confirm", async () => {
      const { sender, friends, strangers } = await senderWith(adminUrl(), 2, 1);
      // Hold the send between its reserve and its INSERT: the table lock stops the INSERT.
      const runner = rows.dataSource.createQueryRunner();
      await runner.connect();
      await runner.startTransaction();
      try {
        await runner.query('LOCK TABLE messages IN SHARE MODE');
        const sending = send(url(), sender.xuid, byXuid([...friends, ...strangers]));
        const reservedBy = Date.now() + 10_000;
        while ((await quota.usage(sender.xuid)).messages === 0) {
          if (Date.now() > reservedBy) throw new Error('the send never reserved its quota');
          await sleep(20);
        }
        // A Redis failover: the master that acknowledged the reserve died before replicating it.
        await quota.forget(sender.xuid);
        await runner.commitTransaction();
        expect((await sending).status).toBe(200);
      } finally {
        if (runner.isTransactionActive) await runner.rollbackTransaction();
        await runner.release();
      }

      // The gateway's confirm (in the background) carries the reservation: charged again, exactly.
      const chargedBy = Date.now() + 10_000;
      while ((await quota.usage(sender.xuid)).messages === 0) {
        if (Date.now() > chargedBy) throw new Error('the stored message was never charged again');
        await sleep(20);
      }
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 3, strangers: 1 });
      expect(await rows.countOf(sender.xuid)).toBe(1);
    });

    it('should accept the 3rd message and refuse the 4th with 5002 and a Retry-After', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 1, 0);
      const since = Date.now();

      for (let i = 0; i < 3; i++) expect((await send(url(), sender.xuid, byXuid(friends))).status).toBe(200);
      const refused = await send(url(), sender.xuid, byXuid(friends));

      const retryAfter = retryAfterOf(refused, DAY_SECONDS, since);
      expectLimit(
        refused,
        5002,
        `Limit messages-per-window reached: at most 3 messages in 24 hours. Retry after ${retryAfter} seconds.`,
      );
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 3, recipients: 3, strangers: 0 });
      expect(await rows.countOf(sender.xuid)).toBe(3);
    });

    it('should accept up to the 5th recipient and refuse the 6th with 5003 and a Retry-After', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 5, 0);
      const since = Date.now();

      expect((await send(url(), sender.xuid, byXuid(friends.slice(0, 3)))).status).toBe(200);
      expect((await send(url(), sender.xuid, byXuid(friends.slice(3)))).status).toBe(200);
      const refused = await send(url(), sender.xuid, byXuid(friends.slice(0, 1)));

      const retryAfter = retryAfterOf(refused, DAY_SECONDS, since);
      expectLimit(
        refused,
        5003,
        `Limit recipients-per-window reached: at most 5 recipients in 24 hours. Retry after ${retryAfter} seconds.`,
      );
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 2, recipients: 5, strangers: 0 });
    });

    it('should accept up to the 4th stranger and refuse the 5th with 5004 and a Retry-After, while a friend still fits', async () => {
      const { sender, friends, strangers } = await senderWith(adminUrl(), 1, 5);
      const since = Date.now();

      expect((await send(url(), sender.xuid, byXuid(strangers.slice(0, 2)))).status).toBe(200);
      expect((await send(url(), sender.xuid, byXuid(strangers.slice(2, 4)))).status).toBe(200);
      const refused = await send(url(), sender.xuid, byXuid(strangers.slice(4)));

      const retryAfter = retryAfterOf(refused, DAY_SECONDS, since);
      expectLimit(
        refused,
        5004,
        `Limit strangers-per-window reached: at most 4 strangers in 24 hours. Retry after ${retryAfter} seconds.`,
      );
      expect((await send(url(), sender.xuid, byXuid(friends))).status).toBe(200);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 3, recipients: 5, strangers: 4 });
    });

    it('should consume nothing on a 409: after refusals the sender can still send exactly what remains', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 5, 0);

      expect((await send(url(), sender.xuid, byXuid(friends.slice(0, 3)))).status).toBe(200);
      for (let i = 0; i < 3; i++) {
        expect((await send(url(), sender.xuid, byXuid(friends.slice(2)))).status).toBe(409);
      }
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 3, strangers: 0 });
      expect((await send(url(), sender.xuid, byXuid(friends.slice(3)))).status).toBe(200);
      expect((await send(url(), sender.xuid, byXuid(friends.slice(0, 1)))).status).toBe(409);

      expect(await quota.usage(sender.xuid)).toEqual({ messages: 2, recipients: 5, strangers: 0 });
      expect((await rows.messagesOf(sender.xuid)).map((message) => message.recipients.length)).toEqual([3, 2]);
    });

    it('should consume nothing on a 404 or a 400', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 5, 0);

      expect((await send(url(), sender.xuid, [...byXuid(friends), { gamertag: 'NoSuchUser0000' }])).status).toBe(404);
      expect((await send(url(), sender.xuid, byXuid(friends), { text: '' })).status).toBe(400);
      expect((await send(url(), sender.xuid, byXuid(friends))).status).toBe(200);

      expect(await quota.usage(sender.xuid)).toEqual({ messages: 1, recipients: 5, strangers: 0 });
    });

    it('should count a recipient who blocked the sender, so the quota never reveals a block', async () => {
      const { sender, friends, strangers } = await senderWith(adminUrl(), 3, 2);
      const [blocker, closed] = strangers;
      await block(adminUrl(), blocker.xuid, sender.xuid);
      await rows.query(`UPDATE users SET communication = 'blocked' WHERE xuid = $1`, [closed.xuid]);

      expect((await send(url(), sender.xuid, byXuid(friends))).status).toBe(200);
      expect((await send(url(), sender.xuid, byXuid([blocker, closed]))).status).toBe(200);
      const refused = await send(url(), sender.xuid, byXuid([blocker]));

      expect(refused.status).toBe(409);
      expect(refused.body.errorCode).toBe(5003);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 2, recipients: 5, strangers: 2 });
    });

    it('should refuse without Retry-After a message with more recipients than a whole window allows', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 6, 0);

      const refused = await send(url(), sender.xuid, byXuid(friends));

      expectLimit(
        refused,
        5003,
        'Limit recipients-per-window reached: at most 5 recipients in 24 hours. This message can never fit.',
      );
      expect(refused.headers.get('retry-after')).toBeNull();
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 0, recipients: 0, strangers: 0 });
    });

    it('should keep at most 3 entries per sender in Redis, all expiring within the window', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 1, 0);

      for (let i = 0; i < 8; i++) await send(url(), sender.xuid, byXuid(friends));

      expect(await rows.countOf(sender.xuid)).toBe(3);
      expect(await quota.logSize(sender.xuid)).toEqual({ log: 3, data: 3 });
      for (const ttl of await quota.ttls(sender.xuid)) {
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(DAY_SECONDS * 1000);
      }
    });
  });

  describe('with 10 messages per day, under concurrency', () => {
    const { url, adminUrl } = useStack({ LIMIT_MESSAGES_PER_DAY: 10 });

    it('should accept exactly 10 of 30 concurrent sends by one sender and refuse the other 20', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 1, 0);

      const responses = await Promise.all(Array.from({ length: 30 }, () => send(url(), sender.xuid, byXuid(friends))));

      const statuses = responses.map((response) => response.status);
      expect(statuses.filter((status) => status === 200).length).toBe(10);
      expect(statuses.filter((status) => status === 409).length).toBe(20);
      expect(new Set(responses.filter((r) => r.status === 409).map((r) => r.body.errorCode))).toEqual(new Set([5002]));
      expect(await rows.countOf(sender.xuid)).toBe(10);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 10, recipients: 10, strangers: 0 });
      expect(await quota.logSize(sender.xuid)).toEqual({ log: 10, data: 10 });
    });
  });

  describe('with 2 messages in a rolling window of 3 seconds', () => {
    const WINDOW_MS = 3000;
    const { url, adminUrl } = useStack({ QUOTA_WINDOW_SECONDS: 3, LIMIT_MESSAGES_PER_DAY: 2 });

    /*
     * Sends at t0 (A) and t0+1.5 s (B); refused at t0+2 s; at t0+3.1 s A has
     * left so C fits, but D right after is refused (B and C are in the window)
     * until B leaves at t0+4.5 s. Fixed 3-second buckets fail this wherever
     * their boundaries fall: a boundary between A and B or between B and the
     * refusal at t0+2 s lets that send through; a boundary after it leaves C
     * alone in its bucket, so D would be accepted.
     */
    it('should count sends in (t - window, t], not in fixed buckets', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 1, 0);
      const sendOne = () => send(url(), sender.xuid, byXuid(friends));
      const message = (seconds: number) =>
        `Limit messages-per-window reached: at most 2 messages in 3 seconds. Retry after ${seconds} seconds.`;

      const a = await timed(sendOne);
      expect(a.response.status).toBe(200);
      const t0 = a.from;

      await sleepUntil(t0 + 1500);
      const b = await timed(sendOne);
      expect(b.response.status).toBe(200);

      await sleepUntil(t0 + 2000);
      const third = await timed(sendOne);
      const thirdRetry = Number(third.response.headers.get('retry-after'));
      expectLimit(third.response, 5002, message(thirdRetry));
      expect(possibleRetryAfters(WINDOW_MS, [a.from, a.to], [third.from, third.to])).toContain(thirdRetry);

      // Just after A (accepted by a.to at the latest) leaves the window.
      await sleepUntil(a.to + WINDOW_MS + 100);
      const c = await timed(sendOne);
      expect(c.response.status).toBe(200);
      const d = await timed(sendOne);
      const dRetry = Number(d.response.headers.get('retry-after'));
      expectLimit(d.response, 5002, message(dRetry));
      expect(possibleRetryAfters(WINDOW_MS, [b.from, b.to], [d.from, d.to])).toContain(dRetry);
      expect(dRetry).toBeGreaterThanOrEqual(1);

      // Just after B leaves.
      await sleepUntil(b.to + WINDOW_MS + 100);
      const e = await timed(sendOne);
      expect(e.response.status).toBe(200);

      expect(await rows.countOf(sender.xuid)).toBe(4);
      // Only C and E are left in Redis: A and B were trimmed as they left the window.
      expect(await quota.logSize(sender.xuid)).toEqual({ log: 2, data: 2 });
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 2, recipients: 2, strangers: 0 });
      for (const ttl of await quota.ttls(sender.xuid)) {
        expect(ttl).toBeGreaterThan(0);
        expect(ttl).toBeLessThanOrEqual(WINDOW_MS);
      }
    });
  });

  describe('with the default limits', () => {
    const { url, adminUrl } = useStack({});

    /** Sends `count` times, `concurrency` at a time; returns the statuses. */
    async function sendMany(sender: Xuid, recipients: Recipient[], count: number, concurrency = 10): Promise<number[]> {
      const statuses: number[] = [];
      for (let start = 0; start < count; start += concurrency) {
        const batch = Math.min(concurrency, count - start);
        const responses = await Promise.all(Array.from({ length: batch }, () => send(url(), sender, recipients)));
        statuses.push(...responses.map((response) => response.status));
      }
      return statuses;
    }

    it('should accept 250 messages in a day and refuse the 251st with 5002', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 1, 0);
      const since = Date.now();

      expect(await sendMany(sender.xuid, byXuid(friends), 250)).toEqual(Array(250).fill(200));
      const refused = await send(url(), sender.xuid, byXuid(friends));

      const retryAfter = retryAfterOf(refused, DAY_SECONDS, since);
      expectLimit(
        refused,
        5002,
        `Limit messages-per-window reached: at most 250 messages in 24 hours. Retry after ${retryAfter} seconds.`,
      );
      expect(await rows.countOf(sender.xuid)).toBe(250);
      expect(await quota.logSize(sender.xuid)).toEqual({ log: 250, data: 250 });
      // The default message lifetime: 30 days.
      const [first] = await rows.messagesOf(sender.xuid);
      expect(first.lifetime_ms).toBe(30 * DAY_SECONDS * 1000);
    });

    it('should accept 2500 recipients in a day (125 sends of 20 friends) and refuse one more with 5003', async () => {
      const { sender, friends } = await senderWith(adminUrl(), 20, 0);
      const since = Date.now();

      expect(await sendMany(sender.xuid, byXuid(friends), 125)).toEqual(Array(125).fill(200));
      const refused = await send(url(), sender.xuid, byXuid(friends.slice(0, 1)));

      const retryAfter = retryAfterOf(refused, DAY_SECONDS, since);
      expectLimit(
        refused,
        5003,
        `Limit recipients-per-window reached: at most 2500 recipients in 24 hours. Retry after ${retryAfter} seconds.`,
      );
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 125, recipients: 2500, strangers: 0 });
    });

    it('should accept 20 strangers in one message and 200 in a day, and refuse one more with 5004', async () => {
      const { sender, friends, strangers } = await senderWith(adminUrl(), 1, 20);
      const since = Date.now();

      expect(await sendMany(sender.xuid, byXuid(strangers), 10)).toEqual(Array(10).fill(200));
      const refused = await send(url(), sender.xuid, byXuid(strangers.slice(0, 1)));

      const retryAfter = retryAfterOf(refused, DAY_SECONDS, since);
      expectLimit(
        refused,
        5004,
        `Limit strangers-per-window reached: at most 200 strangers in 24 hours. Retry after ${retryAfter} seconds.`,
      );
      expect((await send(url(), sender.xuid, byXuid(friends))).status).toBe(200);
      expect(await quota.usage(sender.xuid)).toEqual({ messages: 11, recipients: 201, strangers: 200 });
    });
  });
});
