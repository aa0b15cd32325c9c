import { Queue } from 'bullmq';
import { DELIVERY_QUEUE } from '@app/shared/contracts';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';
import { DeliveryService } from '../../apps/delivery/src/delivery.service';
import { DeliveryRows, sendAll } from '../factories/delivery.factory';
import { DeliveredMessage, expectedItem, inboxPath, request } from '../factories/inbox.factory';
import { bearer, createUser, TestUser } from '../factories/users.factory';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, RunningQuota, RunningService, startDelivery, startGateway, startQuota } from '../setup/services';
import { testRedisUrl } from '../setup/test-env';

const SHORT_TTL_SECONDS = 3;
const DAY_MS = 86_400_000;

/**
 * docs/api.md, Expiry: an expired message is never returned, and is purged.
 * Two gateways share one quota and one worker: one gives messages a lifetime
 * of seconds, the other the default 30 days. The worker purges every second.
 */
describe('delivery: message expiry and purge', () => {
  const prefix = privateRedisPrefix('expiry');
  const idlePrefix = privateRedisPrefix('expiry-idle');
  let quota: RunningQuota;
  let shortLived: RunningService;
  let longLived: RunningGateway;
  // Enqueues into a queue no worker reads, so its messages stay undelivered.
  let idle: RunningService;
  let worker: RunningService;
  let rows: DeliveryRows;

  beforeAll(async () => {
    quota = await startQuota({ REDIS_PREFIX: prefix });
    const common = { QUOTA_PORT: quota.rpcPort, REDIS_PREFIX: prefix };
    [shortLived, longLived, idle, worker, rows] = await Promise.all([
      startGateway({ ...common, MESSAGE_TTL_SECONDS: SHORT_TTL_SECONDS }),
      startGateway(common),
      startGateway({ ...common, REDIS_PREFIX: idlePrefix, MESSAGE_TTL_SECONDS: SHORT_TTL_SECONDS }),
      startDelivery({ REDIS_PREFIX: prefix, PURGE_INTERVAL_SECONDS: 1 }),
      DeliveryRows.open(),
    ]);
  });

  afterAll(async () => {
    await Promise.all([worker, shortLived, longLived, idle].map((service) => service?.close()));
    await quota?.close();
    await rows?.close();
    await Promise.all([deleteRedisKeys(prefix), deleteRedisKeys(idlePrefix)]);
  });

  async function stored(sender: TestUser, recipient: Xuid): Promise<DeliveredMessage[]> {
    const messages = await rows.query<{ id: string; text: string; sent: Date; expiration: Date }>(
      `SELECT id, text, sent, expiration FROM messages WHERE sender_xuid = $1 ORDER BY id`,
      [sender.xuid],
    );
    return messages.map((m) => ({
      id: m.id,
      recipient,
      text: m.text,
      summary: m.text,
      type: MessageType.User,
      sender,
      isRead: false,
      sentMicros: BigInt(m.sent.getTime()) * 1000n,
      sent: m.sent.toISOString(),
      expiration: m.expiration.toISOString(),
    }));
  }

  async function listing(owner: Xuid): Promise<{ status: number; body: any }> {
    const response = await request(longLived.url, 'GET', inboxPath(owner), await bearer(owner));
    return { status: response.status, body: response.body };
  }

  it('should hide messages from the listing and total once they expire, and delete their rows with exact counters when the purge runs', async () => {
    const sender = await createUser(longLived.internalUrl);
    const recipient = await createUser(longLived.internalUrl);
    const to = (texts: string[]) => texts.map((text) => ({ sender: sender.xuid, recipients: [recipient.xuid], text }));
    await sendAll(longLived.url, to(['stays 1', 'stays 2']), 1);
    await sendAll(shortLived.url, to(['goes 1', 'goes 2', 'goes 3']), 1);
    const messages = await stored(sender, recipient.xuid);
    const ids = messages.map((m) => m.id);
    await rows.waitDelivered(ids);
    const release = await rows.shieldFromPurge(ids);
    const [stays, goes] = [messages.slice(0, 2), messages.slice(2)];

    try {
      expect(messages.map((m) => Date.parse(m.expiration) - Date.parse(m.sent))).toEqual([
        30 * DAY_MS,
        30 * DAY_MS,
        ...goes.map(() => SHORT_TTL_SECONDS * 1000),
      ]);
      expect((await listing(recipient.xuid)).body.pagingInfo.totalItems).toBe(5);

      const lastExpiration = Math.max(...goes.map((m) => Date.parse(m.expiration)));
      const afterExpiry = await eventually(
        () => listing(recipient.xuid),
        (page) => page.body.pagingInfo.totalItems === 2,
      );
      expect(Date.now()).toBeGreaterThanOrEqual(lastExpiration);
      expect(afterExpiry).toEqual({
        status: 200,
        body: {
          results: [...stays].reverse().map((m) => expectedItem(m)),
          pagingInfo: { continuationToken: null, totalItems: 2 },
        },
      });
      const detail = await request(
        longLived.url,
        'GET',
        inboxPath(recipient.xuid, `/${goes[0].id}`),
        await bearer(recipient.xuid),
      );
      expect({ status: detail.status, body: detail.body }).toEqual({
        status: 404,
        body: {
          errorSource: 'inbox',
          errorCode: ERRORS.MESSAGE_NOT_FOUND.code,
          errorMessage: ERRORS.MESSAGE_NOT_FOUND.message,
        },
      });
      // Not purged yet: only reading hides them.
      expect(await rows.inboxes([recipient.xuid])).toEqual(new Map([[recipient.xuid, ids]]));
      expect(await rows.counters([recipient.xuid])).toEqual(new Map([[recipient.xuid, 5]]));
    } finally {
      await release();
    }

    await eventually(
      () => rows.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE id = ANY($1::varchar[])`, [ids]),
      ([row]) => row.n === 2,
    );
    expect(await rows.messageIdsOf([sender.xuid])).toEqual(stays.map((m) => m.id));
    expect(await rows.inboxes([recipient.xuid])).toEqual(new Map([[recipient.xuid, stays.map((m) => m.id)]]));
    expect(await rows.counters([recipient.xuid])).toEqual(new Map([[recipient.xuid, 2]]));
    expect((await listing(recipient.xuid)).body.pagingInfo.totalItems).toBe(2);
  });

  it('should purge while the delivery queue is paused: maintenance has a queue of its own', async () => {
    const sender = await createUser(longLived.internalUrl);
    const recipient = await createUser(longLived.internalUrl);
    const deliveries = new Queue(DELIVERY_QUEUE, { connection: redisOptionsFromUrl(testRedisUrl()), prefix });
    await deliveries.pause();
    try {
      await sendAll(
        shortLived.url,
        [{ sender: sender.xuid, recipients: [recipient.xuid], text: 'stuck behind a paused queue' }],
        1,
      );
      const [id] = await rows.messageIdsOf([sender.xuid]);
      expect(await rows.deliveredCount([id])).toBe(0);

      await eventually(
        () => rows.query<{ n: number }>(`SELECT count(*)::int AS n FROM messages WHERE id = $1`, [id]),
        ([row]) => row.n === 0,
      );
      expect(await rows.inboxes([recipient.xuid])).toEqual(new Map([[recipient.xuid, []]]));
    } finally {
      await deliveries.resume();
      await deliveries.close();
    }
  });

  it('should write no entry when a message expired before it could be delivered', async () => {
    const sender = await createUser(longLived.internalUrl);
    const recipient = await createUser(longLived.internalUrl);
    await sendAll(idle.url, [{ sender: sender.xuid, recipients: [recipient.xuid], text: 'too late' }], 1);
    const [id] = await rows.messageIdsOf([sender.xuid]);
    const release = await rows.shieldFromPurge([id]);

    try {
      await eventually(
        () => rows.query<{ expired: boolean }>(`SELECT expiration <= now() AS expired FROM messages WHERE id = $1`, [id]),
        ([row]) => row.expired,
      );
      expect(await rows.deliveredCount([id])).toBe(0);

      expect(await worker.app.get(DeliveryService).deliver(id)).toBe('gone');

      expect(await rows.deliveredCount([id])).toBe(1);
      expect(await rows.inboxes([recipient.xuid])).toEqual(new Map([[recipient.xuid, []]]));
      expect(await rows.counters([recipient.xuid])).toEqual(new Map([[recipient.xuid, null]]));
    } finally {
      await release();
    }
  });
});

/** Polls `read` every 25 ms until `done` holds, and returns that value; fails after `timeoutMs`. */
async function eventually<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline) throw new Error(`condition not met after ${timeoutMs} ms; last value ${JSON.stringify(value)}`);
    await new Promise((wake) => setTimeout(wake, 25));
  }
}
