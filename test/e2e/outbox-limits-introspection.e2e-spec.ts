import { setTimeout as sleep } from 'node:timers/promises';
import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows } from '../factories/delivery.factory';
import { send, SendResponse } from '../factories/outbox.factory';
import { bearer, block, createUser, createUsers, makeFriends, TestUser } from '../factories/users.factory';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { Settings, startStack } from '../setup/services';

type Limit = { limit: number; used: number; nextFreeAt: string | null };
interface Limits {
  asOf: string;
  windowSeconds: number;
  messagesPerWindow: Limit;
  recipientsPerWindow: Limit;
  strangersPerWindow: Limit;
  strangersPerMessage: Limit;
}

/**
 * docs/api.md, Limits: GET .../outbox/limits shows each limit, what the window
 * uses of it and when the next unit frees up, counted exactly as sends are
 * (a recipient who blocks the sender included), charging nothing; a 409 that
 * follows says the same: its Retry-After runs to the nextFreeAt shown.
 */
describe('GET /users/xuid({xuid})/outbox/limits', () => {
  const prefix = privateRedisPrefix('limits-view');
  let rows: DeliveryRows;

  beforeAll(async () => {
    rows = await DeliveryRows.open();
  });

  afterAll(async () => {
    await rows?.close();
    await deleteRedisKeys(prefix);
  });

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

  async function limitsOf(url: string, owner: Xuid, as: Xuid = owner) {
    const response = await fetch(`${url}/users/xuid(${owner})/outbox/limits`, { headers: await bearer(as) });
    return { status: response.status, headers: response.headers, body: (await response.json()) as any };
  }

  async function limits(url: string, owner: Xuid): Promise<Limits> {
    const response = await limitsOf(url, owner);
    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    return response.body as Limits;
  }

  /** The send times (ms, the quota's own clock: the id's time) of the sender's stored messages, oldest first. */
  async function sentTimes(sender: Xuid): Promise<number[]> {
    const found = await rows.query<{ sent: Date }>(`SELECT sent FROM messages WHERE sender_xuid = $1 ORDER BY id`, [sender]);
    return found.map((row) => row.sent.getTime());
  }

  const at = (ms: number): string => new Date(ms).toISOString();
  const byXuid = (users: TestUser[]) => users.map((user) => ({ xuid: user.xuid }));

  /** A refusal's Retry-After, checked to run to `nextFreeAt` from a moment between `from` and `to`. */
  function expectRetryAfterTo(refused: SendResponse, nextFreeAt: string, from: number, to: number): number {
    const header = refused.headers.get('retry-after');
    expect(header).toMatch(/^[1-9][0-9]*$/);
    const free = Date.parse(nextFreeAt);
    const lowest = Math.max(1, Math.ceil((free - to) / 1000));
    const highest = Math.max(1, Math.ceil((free - from) / 1000));
    expect(Number(header)).toBeGreaterThanOrEqual(lowest);
    expect(Number(header)).toBeLessThanOrEqual(highest);
    return Number(header);
  }

  describe('with 3 messages, 6 recipients and 2 strangers per day, and 2 strangers per message', () => {
    const { url, adminUrl } = useStack({
      LIMIT_MESSAGES_PER_DAY: 3,
      LIMIT_RECIPIENTS_PER_DAY: 6,
      LIMIT_STRANGERS_PER_DAY: 2,
      LIMIT_STRANGERS_PER_MESSAGE: 2,
    });
    const DAY_MS = 86_400_000;

    it('should count what the quota counts, blocked recipients included, charge nothing, and agree with the 409s', async () => {
      const sender = await createUser(adminUrl());
      const [friend, blocker, b, c] = await createUsers(adminUrl(), 4);
      await makeFriends(adminUrl(), sender.xuid, friend.xuid);
      await block(adminUrl(), blocker.xuid, sender.xuid);

      const before = Date.now();
      const fresh = await limits(url(), sender.xuid);
      expect(Date.parse(fresh.asOf)).toBeGreaterThanOrEqual(before - 1000);
      expect(Date.parse(fresh.asOf)).toBeLessThanOrEqual(Date.now() + 1000);
      expect(fresh).toStrictEqual({
        asOf: fresh.asOf,
        windowSeconds: 86_400,
        messagesPerWindow: { limit: 3, used: 0, nextFreeAt: null },
        recipientsPerWindow: { limit: 6, used: 0, nextFreeAt: null },
        strangersPerWindow: { limit: 2, used: 0, nextFreeAt: null },
        strangersPerMessage: { limit: 2, used: 0, nextFreeAt: null },
      });

      // The blocker will receive nothing, yet counts as a recipient and a stranger.
      expect((await send(url(), sender.xuid, byXuid([friend, blocker]))).status).toBe(200);
      const [t1] = await sentTimes(sender.xuid);
      const afterFirst = await limits(url(), sender.xuid);
      expect(afterFirst).toStrictEqual({
        asOf: afterFirst.asOf,
        windowSeconds: 86_400,
        messagesPerWindow: { limit: 3, used: 1, nextFreeAt: at(t1 + DAY_MS) },
        recipientsPerWindow: { limit: 6, used: 2, nextFreeAt: at(t1 + DAY_MS) },
        strangersPerWindow: { limit: 2, used: 1, nextFreeAt: at(t1 + DAY_MS) },
        strangersPerMessage: { limit: 2, used: 0, nextFreeAt: null },
      });
      // Looking charges nothing.
      expect({ ...(await limits(url(), sender.xuid)), asOf: null }).toEqual({ ...afterFirst, asOf: null });

      expect((await send(url(), sender.xuid, byXuid([friend]))).status).toBe(200);
      const shown = await limits(url(), sender.xuid);
      expect(shown.messagesPerWindow).toEqual({ limit: 3, used: 2, nextFreeAt: at(t1 + DAY_MS) });
      expect(shown.recipientsPerWindow).toEqual({ limit: 6, used: 3, nextFreeAt: at(t1 + DAY_MS) });
      expect(shown.strangersPerWindow).toEqual({ limit: 2, used: 1, nextFreeAt: at(t1 + DAY_MS) });

      // Two more strangers do not fit the 2 - 1 left: the 409 waits for the strangersPerWindow.nextFreeAt shown.
      const from = Date.now();
      const refused = await send(url(), sender.xuid, byXuid([b, c]));
      const retry = expectRetryAfterTo(refused, shown.strangersPerWindow.nextFreeAt!, from, Date.now());
      expect({ status: refused.status, body: refused.body }).toEqual({
        status: 409,
        body: {
          errorSource: 'quota',
          errorCode: ERRORS.LIMIT_STRANGERS_PER_WINDOW.code,
          errorMessage: `Limit strangers-per-window reached: at most ${shown.strangersPerWindow.limit} strangers in 24 hours. Retry after ${retry} seconds.`,
        },
      });
      // A refusal consumes nothing.
      expect({ ...(await limits(url(), sender.xuid)), asOf: null }).toEqual({ ...shown, asOf: null });

      expect((await send(url(), sender.xuid, byXuid([friend]))).status).toBe(200);
      const full = await limits(url(), sender.xuid);
      expect(full.messagesPerWindow).toEqual({ limit: 3, used: 3, nextFreeAt: at(t1 + DAY_MS) });
      const fromFull = Date.now();
      const overMessages = await send(url(), sender.xuid, byXuid([friend]));
      const retryMessages = expectRetryAfterTo(overMessages, full.messagesPerWindow.nextFreeAt!, fromFull, Date.now());
      expect({ status: overMessages.status, body: overMessages.body }).toEqual({
        status: 409,
        body: {
          errorSource: 'quota',
          errorCode: ERRORS.LIMIT_MESSAGES_PER_WINDOW.code,
          errorMessage: `Limit messages-per-window reached: at most ${full.messagesPerWindow.limit} messages in 24 hours. Retry after ${retryMessages} seconds.`,
        },
      });
    });

    it('should free each kind at the oldest send that used some of it', async () => {
      const sender = await createUser(adminUrl());
      const [friend, stranger] = await createUsers(adminUrl(), 2);
      await makeFriends(adminUrl(), sender.xuid, friend.xuid);
      expect((await send(url(), sender.xuid, byXuid([friend]))).status).toBe(200);
      expect((await send(url(), sender.xuid, byXuid([stranger]))).status).toBe(200);
      const [t1, t2] = await sentTimes(sender.xuid);
      expect(t2).toBeGreaterThan(t1);

      const shown = await limits(url(), sender.xuid);
      expect(shown.messagesPerWindow).toEqual({ limit: 3, used: 2, nextFreeAt: at(t1 + DAY_MS) });
      expect(shown.recipientsPerWindow).toEqual({ limit: 6, used: 2, nextFreeAt: at(t1 + DAY_MS) });
      expect(shown.strangersPerWindow).toEqual({ limit: 2, used: 1, nextFreeAt: at(t2 + DAY_MS) });
    });

    it("should refuse another player's limits with 403 and an unconvertible path XUID with 403 (3001)", async () => {
      const [owner, other] = await createUsers(adminUrl(), 2);
      expect(await limitsOf(url(), owner.xuid, other.xuid)).toMatchObject({
        status: 403,
        body: { errorSource: 'auth', errorCode: ERRORS.FORBIDDEN_USER.code, errorMessage: ERRORS.FORBIDDEN_USER.message },
      });
      const response = await fetch(`${url()}/users/xuid(abc)/outbox/limits`, { headers: await bearer(owner.xuid) });
      expect(response.status).toBe(403);
      expect(((await response.json()) as any).errorCode).toBe(ERRORS.SENDER_XUID_INVALID.code);
    });
  });

  describe('with a 3-second window and 2 messages in it', () => {
    const WINDOW_MS = 3000;
    const { url, adminUrl } = useStack({ LIMIT_MESSAGES_PER_DAY: 2, QUOTA_WINDOW_SECONDS: WINDOW_MS / 1000 });

    it('should free the next unit at nextFreeAt: a send refused before it fits after it', async () => {
      const sender = await createUser(adminUrl());
      const [friend] = await createUsers(adminUrl(), 1);
      await makeFriends(adminUrl(), sender.xuid, friend.xuid);
      expect((await send(url(), sender.xuid, byXuid([friend]))).status).toBe(200);
      // Half a window apart, so the first leaves while the second stays.
      await sleep(WINDOW_MS / 2);
      expect((await send(url(), sender.xuid, byXuid([friend]))).status).toBe(200);
      const [t1, t2] = await sentTimes(sender.xuid);

      const full = await limits(url(), sender.xuid);
      expect(full.windowSeconds).toBe(3);
      expect(full.messagesPerWindow).toEqual({ limit: 2, used: 2, nextFreeAt: at(t1 + WINDOW_MS) });
      const from = Date.now();
      const refused = await send(url(), sender.xuid, byXuid([friend]));
      expect(refused.status).toBe(409);
      expectRetryAfterTo(refused, full.messagesPerWindow.nextFreeAt!, from, Date.now());

      await sleep(Math.max(0, Date.parse(full.messagesPerWindow.nextFreeAt!) - Date.now()) + 50);
      const freed = await limits(url(), sender.xuid);
      expect(freed.messagesPerWindow).toEqual({ limit: 2, used: 1, nextFreeAt: at(t2 + WINDOW_MS) });
      expect((await send(url(), sender.xuid, byXuid([friend]))).status).toBe(200);
    });
  });
});
