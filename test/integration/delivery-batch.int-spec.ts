import { randomBytes } from 'node:crypto';
import { Job, Queue } from 'bullmq';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS } from '@app/shared/contracts';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows, entryCounts, expectedInboxes, PlannedSend, planSends, sendAll } from '../factories/delivery.factory';
import { createUsers, TestUser } from '../factories/users.factory';
import { ServiceProcess, spawnDelivery } from '../setup/service-process';
import { deleteRedisKeys, deliveryQueue, privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, startDelivery, startStack } from '../setup/services';
import { cleanupsAfterEach } from '../setup/cleanups';

const ROOMY_QUOTA = { LIMIT_STRANGERS_PER_DAY: 100_000, LIMIT_RECIPIENTS_PER_DAY: 100_000 };
// The sweeper stays out of the way: what these tests deliver comes through the queue alone,
// so a message the batches lost would stay lost instead of being swept up later.
const NO_SWEEPER = { REDELIVER_AFTER_SECONDS: 3600 };
const MESSAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;
// The hung batch statement's backend, as pg_stat_activity shows it (the text is cut at 1 kB: its start).
const SLEEPING_DELIVERY = `datname = current_database() AND wait_event = 'PgSleep' AND query LIKE 'WITH locked AS (%'`;

/**
 * The delivery worker writes the jobs it holds in batches, one transaction
 * each (apps/delivery/src/delivery.batcher.ts). A message that makes its
 * batch's statement fail must not cost the others their delivery, and a worker
 * that dies with a batch half-written must leave nothing lost and nothing twice.
 * Failures come from triggers on inbox_entries that name one message id.
 */
describe('delivery: batches of deliveries', () => {
  let rows: DeliveryRows;
  // Last registered, first run: workers stop before triggers go, services before their namespace's keys.
  const cleanups = cleanupsAfterEach();

  beforeAll(async () => {
    rows = await DeliveryRows.open();
  });

  afterAll(async () => {
    await rows?.close();
  });

  const xuidsOf = (users: TestUser[]): Xuid[] => users.map((user) => user.xuid);

  /** Gateway and quota on a private namespace whose queue no worker reads yet; returns the gateway. */
  async function gatewayOn(prefix: string): Promise<RunningGateway> {
    cleanups.push(() => deleteRedisKeys(prefix));
    const stack = await startStack({ gateway: { REDIS_PREFIX: prefix }, quota: { REDIS_PREFIX: prefix, ...ROOMY_QUOTA } });
    cleanups.push(() => stack.close());
    return stack.gateway;
  }

  function queueOf(prefix: string): Queue {
    const queue = deliveryQueue(prefix);
    cleanups.push(() => queue.close());
    return queue;
  }

  /**
   * A BEFORE INSERT trigger on inbox_entries that runs `body` (PL/pgSQL) for
   * the entries of one message only; returns the function that drops it
   * (also run after the test, if it has not been).
   */
  async function onEntriesOf(messageId: string, body: string): Promise<() => Promise<void>> {
    if (!MESSAGE_ID.test(messageId)) throw new Error(`not a message id: ${messageId}`);
    const name = `test_batch_${randomBytes(6).toString('hex')}`;
    await rows.query(`CREATE FUNCTION ${name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${body}; RETURN NEW; END $$`);
    await rows.query(
      `CREATE TRIGGER ${name} BEFORE INSERT ON inbox_entries FOR EACH ROW
         WHEN (NEW.message_id = '${messageId}') EXECUTE FUNCTION ${name}()`,
    );
    let dropped = false;
    const drop = async (): Promise<void> => {
      if (dropped) return;
      dropped = true;
      // A backend still asleep in the trigger holds inbox_entries; DROP TRIGGER would wait for it.
      await rows.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE ${SLEEPING_DELIVERY}`);
      await rows.query(`DROP TRIGGER IF EXISTS ${name} ON inbox_entries`);
      await rows.query(`DROP FUNCTION IF EXISTS ${name}()`);
    };
    cleanups.push(drop);
    return drop;
  }

  /** The deliver-messages job the gateway makes of messages it stored in one turn, added to `queue`. */
  function addDeliverMessages(queue: Queue, ids: string[]): Promise<Job> {
    return queue.add(
      DELIVERY_JOBS.deliverMessages,
      { messages: ids.map((messageId) => ({ messageId })) },
      { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: ids[0] },
    );
  }

  it('should deliver every other message of a batch exactly once when one message fails in the delivery statement, and that one once it can be written', async () => {
    const sendPrefix = privateRedisPrefix('batch-send');
    const workerPrefix = privateRedisPrefix('batch-work');
    const gateway = await gatewayOn(sendPrefix);
    const url = gateway.url;
    cleanups.push(() => deleteRedisKeys(workerPrefix));
    const worker = await startDelivery({ REDIS_PREFIX: workerPrefix, DELIVERY_BATCH_SIZE: 50, ...NO_SWEEPER });
    cleanups.push(() => worker.close());
    const queue = queueOf(workerPrefix);

    const [sender, ...users] = await createUsers(gateway.internalUrl, 5);
    const recipients = xuidsOf(users);
    const sends = planSends('poison', [sender], users, 30, users.length);
    await sendAll(url, sends);
    const ids = await rows.messageIdsOf([sender.xuid]);
    expect(ids).toHaveLength(30);
    const all = expectedInboxes(sends, await rows.idsByText([sender.xuid]));
    const [clean, poisonedGroup] = [ids.slice(0, 15), ids.slice(15)];
    const poisoned = poisonedGroup[7];
    const others = poisonedGroup.filter((id) => id !== poisoned);
    const inboxesWithout = (excluded: string[]) =>
      new Map([...all].map(([xuid, messageIds]) => [xuid, messageIds.filter((id) => !excluded.includes(id))]));

    // A job of 15 messages is written as one batch of 15.
    await addDeliverMessages(queue, clean);
    await rows.waitDelivered(clean);
    expect(await batchHistogram(worker.url)).toEqual({ count: 1, sum: 15, single: 0 });

    const drop = await onEntriesOf(poisoned, `RAISE EXCEPTION 'poisoned by test: %', NEW.message_id`);
    const job = await addDeliverMessages(queue, poisonedGroup);
    await rows.waitDelivered(others);
    // Failed once at least, and waiting out its backoff to be tried again.
    await waitForState(queue, job.id!, 'delayed');

    const failed = (await queue.getJob(job.id!))!;
    expect(failed.attemptsMade).toBeGreaterThanOrEqual(1);
    expect(failed.failedReason).toBe(`Delivery of 1 of 15 messages failed (${poisoned}): poisoned by test: ${poisoned}`);
    expect(await rows.deliveredCount([poisoned])).toBe(0);
    expect(await rows.recipientsOf(poisoned)).toEqual([]);
    const withoutPoisoned = inboxesWithout([poisoned]);
    expect(await rows.inboxes(recipients)).toEqual(withoutPoisoned);
    expect(await rows.counters(recipients)).toEqual(entryCounts(withoutPoisoned));
    // The batches of the poisoned job threw and were written one message at a time: apart from the
    // clean batch of 15, every committed batch held one message (at least the 14 others, once per attempt).
    const afterFailures = await batchHistogram(worker.url);
    expect({ multi: afterFailures.count - afterFailures.single, multiSum: afterFailures.sum - afterFailures.single }).toEqual({
      multi: 1,
      multiSum: 15,
    });
    expect(afterFailures.single).toBeGreaterThanOrEqual(14);

    await drop();
    await rows.waitDelivered([poisoned]);
    expect(await waitForState(queue, job.id!, 'completed')).toBe('completed');

    const completed = (await queue.getJob(job.id!))!;
    expect(completed.returnvalue).toEqual({ 'already-delivered': 14, delivered: 1 });
    expect([...(await rows.recipientsOf(poisoned))].sort()).toEqual([...recipients].sort());
    expect(await rows.inboxes(recipients)).toEqual(all);
    expect(await rows.counters(recipients)).toEqual(entryCounts(all));
    expect(await rows.deliveredCount(ids)).toBe(30);
  });

  it('should lose and duplicate nothing when a worker process is SIGKILLed while a batch transaction is half-written', async () => {
    const messages = 200;
    const perMessage = 5;
    const prefix = privateRedisPrefix('batch-kill');
    const gateway = await gatewayOn(prefix);
    const url = gateway.url;
    const users = await createUsers(gateway.internalUrl, 25);
    const [senders, recipientUsers] = [users.slice(0, 5), users.slice(5)];
    const recipients = xuidsOf(recipientUsers);
    const sends: PlannedSend[] = planSends('batch-kill', senders, recipientUsers, messages, perMessage);
    await sendAll(url, sends);
    const ids = await rows.messageIdsOf(xuidsOf(senders));
    expect(ids).toHaveLength(messages);
    const marker = ids[messages / 2];

    // The batch holding the marker inserts its entries up to the marker's, then sleeps inside its transaction.
    const drop = await onEntriesOf(marker, 'PERFORM pg_sleep(30)');
    const doomed = await spawn(prefix);
    const sleeper = await waitForSleepingDelivery();
    doomed.signal('SIGKILL');
    expect(await doomed.exited).toMatchObject({ code: null, signal: 'SIGKILL' });
    expect(await rows.deliveredCount(ids)).toBeLessThan(messages);

    // Postgres would notice the closed socket only when pg_sleep ends; ending the backend now rolls its batch back at once.
    expect(await rows.query(`SELECT pg_terminate_backend($1) AS ended`, [sleeper])).toEqual([{ ended: true }]);
    await waitUntil(
      async () => (await rows.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1`, [sleeper])).length === 0,
      'the hung backend to end',
    );
    expect(await rows.deliveredCount([marker])).toBe(0);
    expect(await rows.recipientsOf(marker)).toEqual([]);
    await drop();

    await spawn(prefix);
    // The killed worker's jobs keep their locks until those expire; BullMQ's stalled check then hands them on.
    await rows.waitDelivered(ids, 35_000);

    const expected = expectedInboxes(sends, await rows.idsByText(xuidsOf(senders)));
    const inboxes = await rows.inboxes(recipients);
    expect([...inboxes.values()].reduce((sum, messageIds) => sum + messageIds.length, 0)).toBe(messages * perMessage);
    expect(inboxes).toEqual(expected);
    expect(await rows.counters(recipients)).toEqual(entryCounts(expected));
    // Nothing anywhere else either: no entry of these messages outside their recipients.
    expect(
      await rows.query(`SELECT count(*)::int AS n FROM inbox_entries WHERE message_id = ANY($1::varchar[])`, [ids]),
    ).toEqual([{ n: messages * perMessage }]);

    // Every delivery job completed, the marker's after the stalled check handed it on.
    const queue = queueOf(prefix);
    await waitUntil(async () => (await unfinishedDeliveryJobs(queue)).length === 0, 'every delivery job to finish');
    const jobs = (await queue.getJobs(['completed'])).filter(isDeliveryJob);
    expect(jobs.flatMap(messageIdsOf).sort()).toEqual([...ids].sort());
    const markerJob = jobs.find((job) => messageIdsOf(job).includes(marker))!;
    expect(markerJob.stalledCounter).toBe(1);
  }, 60_000);

  // The sweeper keeps away (NO_SWEEPER): the second worker must find the killed one's work through the queue alone.
  async function spawn(prefix: string): Promise<ServiceProcess> {
    const worker = await spawnDelivery({ REDIS_PREFIX: prefix, DELIVERY_BATCH_SIZE: 50, ...NO_SWEEPER });
    cleanups.push(() => worker.stop());
    return worker;
  }

  /** The pid of the backend asleep in the trigger, in the middle of a batch's statement. */
  async function waitForSleepingDelivery(): Promise<number> {
    let pid: number | undefined;
    await waitUntil(
      async () => {
        const found = await rows.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE ${SLEEPING_DELIVERY}`);
        pid = found[0]?.pid;
        return pid !== undefined;
      },
      'a delivery statement asleep in the trigger',
      30_000,
    );
    return pid!;
  }
});

const isDeliveryJob = (job: Job): boolean =>
  job.name === DELIVERY_JOBS.deliverMessage || job.name === DELIVERY_JOBS.deliverMessages;

const messageIdsOf = (job: Job): string[] =>
  job.data.messages ? job.data.messages.map((message: { messageId: string }) => message.messageId) : [job.data.messageId];

async function unfinishedDeliveryJobs(queue: Queue): Promise<Job[]> {
  return (await queue.getJobs(['active', 'wait', 'waiting', 'delayed', 'prioritized', 'paused', 'failed'])).filter(
    isDeliveryJob,
  );
}

/**
 * delivery_batch_messages of the worker at `url`: batches committed, messages
 * they held, and how many held a single message (the le="1" bucket).
 */
async function batchHistogram(url: string): Promise<{ count: number; sum: number; single: number }> {
  const response = await fetch(`${url}/metrics`);
  expect(response.status).toBe(200);
  const text = await response.text();
  const value = (pattern: RegExp): number => {
    const match = text.match(pattern);
    if (!match) throw new Error(`no ${pattern} in the metrics of ${url}`);
    return Number(match[1]);
  };
  return {
    count: value(/^delivery_batch_messages_count (\S+)$/m),
    sum: value(/^delivery_batch_messages_sum (\S+)$/m),
    single: value(/^delivery_batch_messages_bucket\{le="1"\} (\S+)$/m),
  };
}

/** Polls the job's state until it is `state`. */
async function waitForState(queue: Queue, jobId: string, state: 'delayed' | 'completed', timeoutMs = 20_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  let current = await queue.getJobState(jobId);
  while (current !== state) {
    if (Date.now() > deadline) throw new Error(`job ${jobId} is ${current} after ${timeoutMs} ms, not ${state}`);
    await new Promise((wake) => setTimeout(wake, 20));
    current = await queue.getJobState(jobId);
  }
  return current;
}

/** Polls `check` until it holds; fails after `timeoutMs` naming what it waited for. */
async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what} after ${timeoutMs} ms`);
    await new Promise((wake) => setTimeout(wake, 20));
  }
}
