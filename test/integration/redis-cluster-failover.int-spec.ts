import { setTimeout as sleep } from 'node:timers/promises';
import { Xuid } from '@app/shared/xuid';
import { DeliveryRows, PlannedSend } from '../factories/delivery.factory';
import { send } from '../factories/outbox.factory';
import { bearer, createUsers, makeFriends, TestUser } from '../factories/users.factory';
import { RedisCluster, startRedisCluster } from '../setup/redis-cluster';
import { privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, RunningQuota, RunningService, startDelivery, startGateway, startQuota } from '../setup/services';

interface Outcome {
  planned: PlannedSend;
  status: number;
  errorCode?: number;
  at: number;
}

/**
 * docs/operations.md, Redis Cluster: a master dies under load. Sends that
 * meet the failover answer 503 (1006) and store nothing; the replica is
 * promoted and sends succeed again; every message answered 200 is delivered
 * exactly once to each recipient (the sweeper gives back the jobs the dead
 * master acknowledged but never replicated); the quota counts exactly the
 * messages stored; the workers keep taking jobs and shut down promptly.
 */
describe('Redis Cluster failover: a master SIGKILLed under load', () => {
  const prefix = privateRedisPrefix('cluster-failover');
  let cluster: RedisCluster;
  let quota: RunningQuota;
  let gateway: RunningGateway;
  let delivery: RunningService;
  let rows: DeliveryRows;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const settings = { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: prefix };
    quota = await startQuota({ ...settings, LIMIT_RECIPIENTS_PER_DAY: 100_000, LIMIT_STRANGERS_PER_DAY: 100_000 });
    gateway = await startGateway({ ...settings, QUOTA_PORT: quota.rpcPort });
    delivery = await startDelivery({ ...settings, REDELIVER_AFTER_SECONDS: 2 });
    rows = await DeliveryRows.open();
  }, 90_000);

  // Shutting down after a failover must not hang on the dead master (a SIGTERM then would wait for SIGKILL).
  afterAll(async () => {
    await rows?.close();
    await gateway?.close();
    await delivery?.close();
    await quota?.close();
    await cluster?.stop();
  }, 30_000);

  /** The cluster slot of a key (the part in braces when it has a hash tag), as the cluster computes it. */
  const slotOf = (key: string): number => Number(cluster.cli(cluster.nodes[0].port, 'cluster', 'keyslot', key).trim());

  it('should answer 503 or 200 through the failover, then 200 again, losing and duplicating nothing, quotas exact', async () => {
    const users = await createUsers(gateway.internalUrl, 12);
    const [senders, recipients] = [users.slice(0, 6), users.slice(6)];
    for (const sender of senders)
      for (const recipient of recipients) await makeFriends(gateway.internalUrl, sender.xuid, recipient.xuid);

    // The master of every queue (one hash tag: one slot) dies: the gateway's enqueue and delivery's
    // fetch both meet it, and so does the quota of every sender whose ledger lives on that master.
    const queueSlot = slotOf(`{${prefix}}:delivery:wait`);
    const victim = cluster.masterOf(queueSlot);
    const victimSenders = senders.filter((sender) => cluster.masterOf(slotOf(`{${sender.xuid}}`)) === victim);

    const outcomes: Outcome[] = [];
    let killedAt = Infinity;
    let stop = false;
    let counter = 0;
    const sender = async (from: TestUser): Promise<void> => {
      while (!stop) {
        const planned: PlannedSend = {
          sender: from.xuid,
          recipients: recipients.slice(0, 1 + (counter % recipients.length)).map((user) => user.xuid),
          text: `failover ${prefix} ${counter++}`,
        };
        const response = await send(
          gateway.url,
          planned.sender,
          planned.recipients.map((xuid) => ({ xuid })),
          { text: planned.text },
        );
        const errorCode = response.text ? (JSON.parse(response.text) as { errorCode: number }).errorCode : undefined;
        outcomes.push({ planned, status: response.status, errorCode, at: Date.now() });
        if (response.status !== 200) await sleep(50);
      }
    };
    const load = Promise.all(senders.map(sender));

    await sleep(1_500);
    killedAt = Date.now();
    await cluster.kill(victim);
    // Failed over: a replica serves the dead master's slots, and the cluster says ok.
    const promotedBy = Date.now() + 30_000;
    while (cluster.masterOf(queueSlot) === victim) {
      if (Date.now() > promotedBy) throw new Error('no replica took over the dead master within 30 s');
      await sleep(100);
    }
    await cluster.waitHealthy(30_000);
    const healthyAt = Date.now();
    // Sends succeed again after the promotion: 50 more 200s, from every sender.
    const deadline = Date.now() + 30_000;
    while (outcomes.filter((outcome) => outcome.at > healthyAt && outcome.status === 200).length < 50) {
      if (Date.now() > deadline) {
        const after = outcomes.filter((outcome) => outcome.at > healthyAt);
        const seen = [...new Set(after.map((outcome) => `${outcome.status} ${outcome.errorCode ?? ''}`))];
        throw new Error(
          `sends did not succeed again within 30 s of the failover: ${after.length} answers after it (${seen.join(', ')}), ` +
            `${after.filter((outcome) => outcome.status === 200).length} of them 200`,
        );
      }
      await sleep(100);
    }
    stop = true;
    await load;

    // Only 200 and 503 (a dependency unavailable, 1006), and the 503s only around the failover.
    const statuses = new Set(outcomes.map((outcome) => `${outcome.status} ${outcome.errorCode ?? ''}`.trim()));
    expect([...statuses].filter((status) => status !== '200' && status !== '503 1006')).toEqual([]);
    const refused = outcomes.filter((outcome) => outcome.status === 503);
    for (const outcome of refused) expect(outcome.at).toBeGreaterThanOrEqual(killedAt);
    expect(outcomes.filter((outcome) => outcome.at < killedAt && outcome.status === 200).length).toBeGreaterThan(0);
    for (const from of senders) {
      expect(
        outcomes.filter((o) => o.planned.sender === from.xuid && o.at > healthyAt && o.status === 200).length,
      ).toBeGreaterThan(0);
    }

    // Every 200 is stored once, and no 503 is.
    const accepted = outcomes.filter((outcome) => outcome.status === 200).map((outcome) => outcome.planned);
    const senderXuids = senders.map((user) => user.xuid);
    const idByText = await rows.idsByText(senderXuids);
    expect([...idByText.keys()].sort()).toEqual(accepted.map((planned) => planned.text).sort());

    // Delivered exactly once to each recipient (the sweeper gives back any job the failover lost).
    const ids = [...idByText.values()];
    await rows.waitDelivered(ids, 30_000);
    const expected = new Map<Xuid, string[]>(recipients.map((user) => [user.xuid, []]));
    for (const planned of accepted)
      for (const xuid of planned.recipients) expected.get(xuid)!.push(idByText.get(planned.text)!);
    for (const list of expected.values()) list.sort();
    expect(await rows.inboxes(recipients.map((user) => user.xuid))).toEqual(expected);
    expect(await rows.counters(recipients.map((user) => user.xuid))).toEqual(
      new Map([...expected].map(([xuid, list]) => [xuid, list.length])),
    );

    // The quota counts exactly what was stored, for every sender, those on the dead master included.
    for (const from of senders) {
      const response = await fetch(`${gateway.url}/users/xuid(${from.xuid})/outbox/limits`, {
        headers: await bearer(from.xuid),
      });
      expect(response.status).toBe(200);
      const limits = (await response.json()) as { messagesPerWindow: { used: number }; recipientsPerWindow: { used: number } };
      const own = accepted.filter((planned) => planned.sender === from.xuid);
      expect({ xuid: from.xuid, messages: limits.messagesPerWindow.used, recipients: limits.recipientsPerWindow.used }).toEqual(
        {
          xuid: from.xuid,
          messages: own.length,
          recipients: own.reduce((sum, planned) => sum + planned.recipients.length, 0),
        },
      );
    }

    // The sweeper still runs after the failover (its worker, idle, was blocked on the dead master): a message
    // whose delivered mark is lost gets its job back within seconds and is delivered again, entries unchanged.
    await rows.markUndelivered([ids[0]]);
    await rows.waitDelivered([ids[0]], 15_000);
    expect(await rows.inboxes(recipients.map((user) => user.xuid))).toEqual(expected);

    // What the run saw, for the note and the docs.
    const firstRefused = refused[0]?.at ?? killedAt;
    const lastRefused = refused[refused.length - 1]?.at ?? killedAt;
    process.stdout.write(
      `failover: ${outcomes.length} sends, ${accepted.length} accepted, ${refused.length} answered 503 between ` +
        `${firstRefused - killedAt} and ${lastRefused - killedAt} ms after the kill; cluster ok ${healthyAt - killedAt} ms ` +
        `after it; ${victimSenders.length} of ${senders.length} senders' ledgers on the dead master\n`,
    );
  }, 180_000);
});
