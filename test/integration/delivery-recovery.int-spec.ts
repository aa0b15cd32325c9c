import { Queue } from 'bullmq';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS } from '@app/shared/contracts';
import { oldestWaitingSeconds } from '../../apps/delivery/src/maintenance.service';
import { DeliveryRows, entryCounts, expectedInboxes, planSends, sendAll } from '../factories/delivery.factory';
import { createUsers, TestUser } from '../factories/users.factory';
import { deleteRedisKeys, deliveryQueue, privateRedisPrefix, redisKeysOf } from '../setup/redis-namespace';
import { RunningGateway, RunningService, startDelivery, startStack } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { cleanupsAfterEach } from '../setup/cleanups';
import { PrivateDatabase, privateDatabase } from '../setup/private-database';

// Limits high enough for one sender to reach every recipient many times over.
const ROOMY_QUOTA = { LIMIT_STRANGERS_PER_DAY: 100_000, LIMIT_RECIPIENTS_PER_DAY: 100_000 };

/**
 * docs/api.md, Send a message: an accepted message "is delivered even if the
 * queue loses its job". Postgres holds every accepted message; the sweeper gives
 * undelivered ones their job back. Each test has its own Redis namespace, so it
 * can run without a worker and lose its keys without touching other suites;
 * the suite has its own database, so its fast sweepers deliver no other
 * suite's deliberately undelivered messages.
 */
describe('delivery: no accepted message is lost', () => {
  let database: PrivateDatabase;
  let rows: DeliveryRows;
  // Last registered, first run: services close before their namespace's keys go.
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    database = await privateDatabase('recovery');
    rows = await DeliveryRows.open(database.url);
  });

  afterAll(async () => {
    await rows?.close();
    await database?.drop();
  });

  /** Gateway and quota on a private namespace, and no delivery worker on it. */
  async function stackWithoutWorker(prefix: string): Promise<RunningGateway> {
    cleanups.push(() => deleteRedisKeys(prefix));
    const stack = await startStack({
      gateway: { REDIS_PREFIX: prefix, DATABASE_URL: database.url },
      quota: { REDIS_PREFIX: prefix, ...ROOMY_QUOTA },
    });
    cleanups.push(() => stack.close());
    return stack.gateway;
  }

  async function worker(settings: Record<string, string | number>): Promise<RunningService> {
    const delivery = await startDelivery({ DATABASE_URL: database.url, ...settings });
    cleanups.push(() => delivery.close());
    return delivery;
  }

  const xuidsOf = (users: TestUser[]) => users.map((user) => user.xuid);

  it('should deliver every accepted message exactly once when Redis loses all state before any worker ran', async () => {
    const prefix = privateRedisPrefix('redis-loss');
    const gateway = await stackWithoutWorker(prefix);
    const url = gateway.url;
    const users = await createUsers(gateway.internalUrl, 30);
    const [senders, recipients] = [users.slice(0, 10), users.slice(10)];
    const sends = planSends('lost', senders, recipients, 200, 10);

    await sendAll(url, sends);
    const ids = await rows.messageIdsOf(xuidsOf(senders));
    expect(ids).toHaveLength(200);
    expect(await rows.deliveredCount(ids)).toBe(0);
    expect((await redisKeysOf(prefix)).filter((key) => key.startsWith(`${prefix}:delivery:`)).length).toBeGreaterThan(0);

    // A Redis restart without persistence: the queue and its 200 jobs, and the quota windows, are gone.
    expect(await deleteRedisKeys(prefix)).toBeGreaterThan(0);
    expect(await redisKeysOf(prefix)).toEqual([]);

    await worker({ REDIS_PREFIX: prefix, REDELIVER_AFTER_SECONDS: 1 });
    await rows.waitDelivered(ids, 30_000);

    const expected = expectedInboxes(sends, await rows.idsByText(xuidsOf(senders)));
    expect(expected.size).toBe(recipients.length);
    expect(await rows.inboxes(xuidsOf(recipients))).toEqual(expected);
    expect(await rows.counters(xuidsOf(recipients))).toEqual(entryCounts(expected));
  });

  it('should leave a job that keeps failing in the failed set, and deliver its message when the sweeper retries it later', async () => {
    const sendPrefix = privateRedisPrefix('failing-send');
    const workerPrefix = privateRedisPrefix('failing-work');
    const gateway = await stackWithoutWorker(sendPrefix);
    const url = gateway.url;
    const [sender, ...recipients] = await createUsers(gateway.internalUrl, 4);
    const sends = planSends('failing', [sender], recipients, 1, recipients.length);
    await sendAll(url, sends);
    const [id] = await rows.messageIdsOf([sender.xuid]);

    // The worker reaches Postgres through a proxy the test can cut.
    const target = new URL(database.url);
    const postgres = await new TcpProxy(target.hostname, Number(target.port || 5432)).start();
    cleanups.push(() => postgres.stop());
    cleanups.push(() => deleteRedisKeys(workerPrefix));
    await worker({ REDIS_PREFIX: workerPrefix, DATABASE_URL: postgres.rewrite(database.url), REDELIVER_AFTER_SECONDS: 1 });
    const queue = deliveryQueue(workerPrefix);
    cleanups.push(() => queue.close());

    await postgres.stop();
    // The gateway's job, with two attempts instead of eight so the attempts run out in a moment, not a minute.
    await queue.add(
      DELIVERY_JOBS.deliverMessage,
      { messageId: id },
      {
        ...DELIVER_MESSAGE_JOB_OPTIONS,
        attempts: 2,
        backoff: { type: 'fixed', delay: 100 },
        jobId: id,
      },
    );
    await waitForState(queue, id, 'failed');
    const failed = (await queue.getJob(id))!;
    expect({ attemptsMade: failed.attemptsMade, failedReason: failed.failedReason }).toEqual({
      attemptsMade: 2,
      failedReason: expect.stringContaining('ECONNREFUSED'),
    });
    expect(await rows.deliveredCount([id])).toBe(0);

    await postgres.start();
    await rows.waitDelivered([id], 20_000);

    expect(await waitForState(queue, id, 'completed')).toBe('completed');
    expect((await queue.getJob(id))!.returnvalue).toBe('delivered');
    const expected = expectedInboxes(sends, await rows.idsByText([sender.xuid]));
    expect(await rows.inboxes(xuidsOf(recipients))).toEqual(expected);
    expect(await rows.counters(xuidsOf(recipients))).toEqual(entryCounts(expected));
  });
});

describe("delivery: the sweeper's backlog age", () => {
  const cleanups = cleanupsAfterEach();

  // The sweeper counts a message as lost only REDELIVER_AFTER_SECONDS past this age, so a message in a
  // grouped job (found by its first message's id only) is not given a second job while the group waits.
  it('should be the age of the oldest job still waiting, on a real queue, and 0 once none waits', async () => {
    const prefix = privateRedisPrefix('backlog-age');
    cleanups.push(() => deleteRedisKeys(prefix));
    const queue = deliveryQueue(prefix);
    cleanups.push(() => queue.close());
    expect(await oldestWaitingSeconds(queue)).toBe(0);

    const first = await queue.add(DELIVERY_JOBS.deliverMessages, { messages: [{ messageId: 'A1' }, { messageId: 'A2' }] });
    await new Promise((wake) => setTimeout(wake, 2_100));
    await queue.add(DELIVERY_JOBS.deliverMessage, { messageId: 'B' }, { jobId: 'B' });
    const oldest = await oldestWaitingSeconds(queue);
    expect(oldest).toBeGreaterThanOrEqual(3);
    expect(oldest).toBeLessThan(30);

    // Taken by a worker (no longer waiting): the next oldest counts.
    await first.remove();
    expect(await oldestWaitingSeconds(queue)).toBeLessThanOrEqual(1);
    await queue.drain();
    expect(await oldestWaitingSeconds(queue)).toBe(0);
  });
});

/** Polls the job's state until it is `state`. */
async function waitForState(queue: Queue, jobId: string, state: 'failed' | 'completed', timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let current = await queue.getJobState(jobId);
  while (current !== state) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${current} after ${timeoutMs} ms, not ${state}`);
    await new Promise((wake) => setTimeout(wake, 20));
    current = await queue.getJobState(jobId);
  }
  return current;
}
