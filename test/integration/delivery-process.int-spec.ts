import { Job } from 'bullmq';
import { DeliveryRows, entryCounts, expectedInboxes, PlannedSend, planSends, sendAll } from '../factories/delivery.factory';
import { createUsers, TestUser } from '../factories/users.factory';
import { ServiceProcess, spawnDelivery } from '../setup/service-process';
import { deleteRedisKeys, deliveryQueue, privateRedisPrefix } from '../setup/redis-namespace';
import { startStack } from '../setup/services';
import { cleanupsAfterEach } from '../setup/cleanups';

const ROOMY_QUOTA = { LIMIT_STRANGERS_PER_DAY: 100_000, LIMIT_RECIPIENTS_PER_DAY: 100_000 };
const MESSAGES = 300;
const RECIPIENTS_PER_MESSAGE = 20;

/**
 * Real delivery processes (apps/delivery/src/main.ts) killed in the middle of
 * a fan-out of 6,000 inbox entries. Each test has its own Redis namespace: the
 * messages wait in a queue only its processes read.
 */
describe('delivery: worker processes that die or stop mid-run', () => {
  let rows: DeliveryRows;
  // Last registered, first run: processes and services stop before their namespace's keys go.
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    rows = await DeliveryRows.open();
  });

  afterAll(async () => {
    await rows?.close();
  });

  interface Backlog {
    prefix: string;
    sends: PlannedSend[];
    senders: TestUser[];
    recipients: TestUser[];
    ids: string[];
  }

  /** 300 accepted messages to 20 of 40 recipients each, waiting in a private queue no worker reads yet. */
  async function backlog(label: string): Promise<Backlog> {
    const prefix = privateRedisPrefix(label);
    cleanups.push(() => deleteRedisKeys(prefix));
    const stack = await startStack({ gateway: { REDIS_PREFIX: prefix }, quota: { REDIS_PREFIX: prefix, ...ROOMY_QUOTA } });
    cleanups.push(() => stack.close());
    const users = await createUsers(stack.gateway.internalUrl, 55);
    const [senders, recipients] = [users.slice(0, 15), users.slice(15)];
    const sends = planSends(label, senders, recipients, MESSAGES, RECIPIENTS_PER_MESSAGE);
    await sendAll(stack.gateway.url, sends);
    const ids = await rows.messageIdsOf(senders.map((user) => user.xuid));
    expect(ids).toHaveLength(MESSAGES);
    // Suites with fast sweepers run them on private databases, and the run's sweepers wait 30 s: nobody delivered these.
    expect(await rows.deliveredCount(ids)).toBe(0);
    return { prefix, sends, senders, recipients, ids };
  }

  // The sweeper keeps its default pace: nothing here needs it, and a fast one would also sweep other suites' messages.
  async function spawn(prefix: string): Promise<ServiceProcess> {
    const worker = await spawnDelivery({ REDIS_PREFIX: prefix, DELIVERY_CONCURRENCY: 8 });
    cleanups.push(() => worker.stop());
    return worker;
  }

  /** Every recipient holds exactly the messages sent to it, once each, and its counter says so. */
  async function expectEveryInboxExact(run: Backlog): Promise<void> {
    const expected = expectedInboxes(run.sends, await rows.idsByText(run.senders.map((user) => user.xuid)));
    const recipients = run.recipients.map((user) => user.xuid);
    const inboxes = await rows.inboxes(recipients);
    expect([...inboxes.values()].reduce((sum, ids) => sum + ids.length, 0)).toBe(MESSAGES * RECIPIENTS_PER_MESSAGE);
    expect(inboxes).toEqual(expected);
    expect(await rows.counters(recipients)).toEqual(entryCounts(expected));
  }

  /**
   * The delivery jobs of the namespace, each message in exactly one: the
   * gateway puts the messages it stored in one turn of its event loop into one
   * job, so a job carries one message or several.
   */
  async function jobsOf(prefix: string, ids: string[]): Promise<Job[]> {
    const queue = deliveryQueue(prefix);
    try {
      // The worker's sweeper may have added jobs for other suites' undelivered messages (same database).
      const ours = new Set(ids);
      const jobs = (await queue.getJobs())
        .filter((job) => job.name.startsWith('deliver-message'))
        .filter((job) => messageIdsOf(job).some((id) => ours.has(id)));
      const carried = jobs.flatMap((job) => messageIdsOf(job)).filter((id) => ours.has(id));
      expect([...carried].sort()).toEqual([...ids].sort());
      return jobs;
    } finally {
      await queue.close();
    }
  }

  async function everyJobCompleted(run: Backlog, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const queue = deliveryQueue(run.prefix);
    cleanups.push(() => queue.close());
    for (;;) {
      const states = await Promise.all((await jobsOf(run.prefix, run.ids)).map((job) => queue.getJobState(job.id!)));
      if (states.every((state) => state === 'completed')) return;
      if (Date.now() > deadline) throw new Error(`delivery jobs not all completed after ${timeoutMs} ms: ${states.join(', ')}`);
      await new Promise((wake) => setTimeout(wake, 100));
    }
  }

  const messageIdsOf = (job: Job): string[] =>
    job.data.messages ? job.data.messages.map((message: { messageId: string }) => message.messageId) : [job.data.messageId];

  it('should deliver every entry exactly once when a worker process is SIGKILLed a third of the way through', async () => {
    const run = await backlog('sigkill');

    const doomed = await spawn(run.prefix);
    const seen = await rows.waitDeliveredAtLeast(run.ids, MESSAGES / 3, 30_000, 2);
    // A job carries several messages, so the worker can be between jobs: kill it while it holds some.
    const queue = deliveryQueue(run.prefix);
    cleanups.push(() => queue.close());
    while ((await queue.getActiveCount()) === 0) await new Promise((wake) => setTimeout(wake, 1));
    doomed.signal('SIGKILL');
    expect(await doomed.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    const deliveredAtKill = await rows.deliveredCount(run.ids);
    expect(deliveredAtKill).toBeGreaterThanOrEqual(seen);
    expect(deliveredAtKill).toBeLessThan(MESSAGES);

    await spawn(run.prefix);
    // The killed worker's active jobs keep their locks until those expire; BullMQ's stalled check then hands them on.
    await rows.waitDelivered(run.ids, 45_000);
    // A killed job whose messages were committed before the kill is finished only by that hand-over.
    await everyJobCompleted(run, 45_000);

    await expectEveryInboxExact(run);
    const jobs = await jobsOf(run.prefix, run.ids);
    // At most the 8 jobs the killed worker held (DELIVERY_CONCURRENCY) were stalled and handed on.
    const stalled = jobs.filter((job) => job.stalledCounter > 0).length;
    expect(stalled).toBeGreaterThan(0);
    expect(stalled).toBeLessThanOrEqual(8);
  }, 90_000);

  it('should finish its jobs in flight, exit promptly and leave the rest to the next worker when it gets SIGTERM mid-run', async () => {
    const run = await backlog('sigterm');

    const stopping = await spawn(run.prefix);
    await rows.waitDeliveredAtLeast(run.ids, 30, 30_000, 2);
    stopping.signal('SIGTERM');
    const exit = await stopping.exited;
    // Nest's shutdown hooks close the worker (which waits for its active jobs), then exit 0 (so the logger flushes).
    expect({ code: exit.code, signal: exit.signal, quick: exit.afterMs < 5000 }).toEqual({
      code: 0,
      signal: null,
      quick: true,
    });
    const queue = deliveryQueue(run.prefix);
    cleanups.push(() => queue.close());
    expect(await queue.getActiveCount()).toBe(0);
    expect(await rows.deliveredCount(run.ids)).toBeLessThan(MESSAGES);

    await spawn(run.prefix);
    await rows.waitDelivered(run.ids, 30_000);

    await expectEveryInboxExact(run);
    const jobs = await jobsOf(run.prefix, run.ids);
    expect(jobs.map((job) => job.stalledCounter).filter((count) => count > 0)).toEqual([]);
  }, 90_000);
});
