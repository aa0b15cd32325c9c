import { QueueEvents } from 'bullmq';
import { DELIVERY_JOBS, DELIVERY_QUEUE } from '@app/shared/contracts';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { Xuid } from '@app/shared/xuid';
import { DeliveryOutcome, DeliveryService } from '../../apps/delivery/src/delivery.service';
import { DeliveryRows, entryCounts, planSends, sendAll } from '../factories/delivery.factory';
import { createUsers, TestUser } from '../factories/users.factory';
import { deleteRedisKeys, deliveryQueue, privateRedisPrefix } from '../setup/redis-namespace';
import { RunningService, startDelivery, startStack } from '../setup/services';
import { testRedisUrl } from '../setup/test-env';

/**
 * docs/api.md, Delivery and privacy: one inbox entry per (message, recipient) however often a
 * delivery runs. The gateway here enqueues into a queue no worker reads, so
 * every message is still undelivered when a test delivers it by hand, from two
 * independent delivery apps (two DataSources, as two worker processes have).
 */
describe('delivery: exactly one entry per recipient', () => {
  const sendPrefix = privateRedisPrefix('once-send');
  const workerPrefix = privateRedisPrefix('once-work');
  let stack: Awaited<ReturnType<typeof startStack>>;
  let first: RunningService;
  let second: RunningService;
  let rows: DeliveryRows;
  let url: string;
  let adminUrl: string;

  beforeAll(async () => {
    const pool = { DATABASE_POOL_SIZE: 8, REDIS_PREFIX: workerPrefix };
    [stack, first, second, rows] = await Promise.all([
      startStack({ gateway: { REDIS_PREFIX: sendPrefix }, quota: { REDIS_PREFIX: sendPrefix } }),
      startDelivery(pool),
      startDelivery(pool),
      DeliveryRows.open(),
    ]);
    url = stack.gateway.url;
    adminUrl = stack.gateway.internalUrl;
  });

  afterAll(async () => {
    await Promise.all([first?.close(), second?.close(), stack?.close()]);
    await rows?.close();
    await Promise.all([deleteRedisKeys(sendPrefix), deleteRedisKeys(workerPrefix)]);
  });

  const serviceOf = (app: RunningService): DeliveryService => app.app.get(DeliveryService);

  /** Accepts the sends through HTTP and returns the stored ids by text; none is delivered yet. */
  async function accept(sender: TestUser, recipients: TestUser[], messages: number, label: string): Promise<string[]> {
    const sends = planSends(label, [sender], recipients, messages, recipients.length);
    await sendAll(url, sends);
    const ids = await rows.messageIdsOf([sender.xuid]);
    expect(ids).toHaveLength(messages);
    expect(await rows.deliveredCount(ids)).toBe(0);
    return ids;
  }

  const xuidsOf = (users: TestUser[]): Xuid[] => users.map((user) => user.xuid);

  it('should write one entry per recipient and move each counter once when the same message is delivered twice', async () => {
    const [sender, ...recipients] = await createUsers(adminUrl, 6);
    const [id] = await accept(sender, recipients, 1, 'twice');
    const service = serviceOf(first);

    expect(await service.deliver(id)).toBe<DeliveryOutcome>('delivered');
    expect(await service.deliver(id)).toBe<DeliveryOutcome>('already-delivered');
    // As a retry after a crash between the write and the acknowledgement sees it.
    await rows.markUndelivered([id]);
    expect(await serviceOf(second).deliver(id)).toBe<DeliveryOutcome>('delivered');

    const expected = new Map(xuidsOf(recipients).map((xuid) => [xuid, [id]]));
    expect(await rows.inboxes(xuidsOf(recipients))).toEqual(expected);
    expect(await rows.counters(xuidsOf(recipients))).toEqual(entryCounts(expected));
    expect(await rows.deliveredCount([id])).toBe(1);
  });

  it('should change nothing when a second job with another id carries the same message through the queue', async () => {
    const [sender, ...recipients] = await createUsers(adminUrl, 4);
    const [id] = await accept(sender, recipients, 1, 'second job');
    const queue = deliveryQueue(workerPrefix);
    const events = new QueueEvents(DELIVERY_QUEUE, { connection: redisOptionsFromUrl(testRedisUrl()), prefix: workerPrefix });
    try {
      await events.waitUntilReady();
      const run = async (jobId: string): Promise<unknown> => {
        const job = await queue.add(DELIVERY_JOBS.deliverMessage, { messageId: id }, { jobId });
        return job.waitUntilFinished(events, 20_000);
      };

      expect(await run(`${id}-a`)).toBe('delivered');
      expect(await run(`${id}-b`)).toBe('already-delivered');
      await rows.markUndelivered([id]);
      expect(await run(`${id}-c`)).toBe('delivered');
    } finally {
      await events.close();
      await queue.close();
    }

    const expected = new Map(xuidsOf(recipients).map((xuid) => [xuid, [id]]));
    expect(await rows.inboxes(xuidsOf(recipients))).toEqual(expected);
    expect(await rows.counters(xuidsOf(recipients))).toEqual(entryCounts(expected));
  });

  it('should keep one entry per recipient and exact counters when two workers race on the same messages fifty times at once', async () => {
    const [sender, ...recipients] = await createUsers(adminUrl, 9);
    const ids = await accept(sender, recipients, 5, 'race');
    const services = [serviceOf(first), serviceOf(second)];
    const expected = new Map(xuidsOf(recipients).map((xuid) => [xuid, [...ids].sort()]));

    for (let round = 0; round < 3; round++) {
      if (round > 0) await rows.markUndelivered(ids);
      // 10 concurrent deliveries of each of the 5 messages, alternating between the two apps: 50 at once.
      const outcomes = await Promise.all(
        ids.flatMap((id) => Array.from({ length: 10 }, (_, call) => services[call % 2].deliver(id))),
      );

      expect(outcomes.every((outcome) => outcome === 'delivered' || outcome === 'already-delivered')).toBe(true);
      expect(outcomes.filter((outcome) => outcome === 'delivered').length).toBeGreaterThanOrEqual(ids.length);
      expect(await rows.inboxes(xuidsOf(recipients))).toEqual(expected);
      expect(await rows.counters(xuidsOf(recipients))).toEqual(entryCounts(expected));
      expect(await rows.deliveredCount(ids)).toBe(ids.length);
    }
  });
});
