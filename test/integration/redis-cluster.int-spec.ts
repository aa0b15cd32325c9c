import { Cluster } from 'ioredis';
import { BROADCAST_QUEUE, DELIVERY_QUEUE } from '@app/shared/contracts';
import { DeliveryRows, expectedInboxes, planSends, sendAll } from '../factories/delivery.factory';
import { openEventStream } from '../factories/event-stream.factory';
import { send } from '../factories/outbox.factory';
import { createUser, createUsers, makeFriends } from '../factories/users.factory';
import { RedisCluster, startRedisCluster } from '../setup/redis-cluster';
import { privateRedisPrefix } from '../setup/redis-namespace';
import { RunningGateway, RunningQuota, RunningService, startDelivery, startGateway, startQuota } from '../setup/services';

/** Every key on every master of the cluster matching `pattern`. */
async function clusterKeys(redis: Cluster, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const master of redis.nodes('master')) {
    let cursor = '0';
    do {
      const [next, batch] = await master.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      keys.push(...batch);
      cursor = next;
    } while (cursor !== '0');
  }
  return keys;
}

describe('Redis Cluster (3 masters, 3 replicas): quota, gateway and delivery on REDIS_CLUSTER_NODES', () => {
  const prefix = privateRedisPrefix('cluster');
  let cluster: RedisCluster;
  let redis: Cluster;
  let quota: RunningQuota;
  let gateway: RunningGateway;
  let delivery: RunningService;
  let rows: DeliveryRows;

  beforeAll(async () => {
    cluster = await startRedisCluster();
    const settings = { REDIS_CLUSTER_NODES: cluster.seeds, REDIS_PREFIX: prefix };
    quota = await startQuota({ ...settings, LIMIT_MESSAGES_PER_DAY: 3 });
    gateway = await startGateway({ ...settings, QUOTA_PORT: quota.rpcPort });
    delivery = await startDelivery(settings);
    rows = await DeliveryRows.open();
    redis = new Cluster(cluster.seeds.split(',').map((seed) => ({ host: '127.0.0.1', port: Number(seed.split(':')[1]) })));
  }, 60_000);

  afterAll(async () => {
    await redis?.quit();
    await rows?.close();
    await gateway?.close();
    await delivery?.close();
    await quota?.close();
    await cluster?.stop();
  });

  it('should accept sends with 200 and deliver each message exactly once to each recipient', async () => {
    const senders = await createUsers(gateway.internalUrl, 4);
    const recipients = await createUsers(gateway.internalUrl, 6);
    for (const sender of senders)
      for (const recipient of recipients) await makeFriends(gateway.internalUrl, sender.xuid, recipient.xuid);
    const sends = planSends(`cluster ${prefix}`, senders, recipients, 8, 3);

    await sendAll(gateway.url, sends, 4);

    const senderXuids = senders.map((sender) => sender.xuid);
    const idByText = await rows.idsByText(senderXuids);
    expect(idByText.size).toBe(8);
    await rows.waitDelivered([...idByText.values()]);
    const recipientXuids = recipients.map((recipient) => recipient.xuid);
    expect(await rows.inboxes(recipientXuids)).toEqual(expectedInboxes(sends, idByText));
  });

  it('should refuse the 4th message of a sender with 409 (5002) when the limit is 3, its quota keys on one slot', async () => {
    const [sender, friend] = [await createUser(gateway.internalUrl), await createUser(gateway.internalUrl)];
    await makeFriends(gateway.internalUrl, sender.xuid, friend.xuid);

    for (let i = 0; i < 3; i++) expect((await send(gateway.url, sender.xuid, [{ xuid: friend.xuid }])).status).toBe(200);
    const refused = await send(gateway.url, sender.xuid, [{ xuid: friend.xuid }]);

    expect(refused.status).toBe(409);
    expect(refused.body).toMatchObject({ errorSource: 'quota', errorCode: 5002 });
    const log = `${prefix}:quota:{${sender.xuid}}:log`;
    expect(await redis.zcard(log)).toBe(3);
    const keys = await clusterKeys(redis, `${prefix}:quota:{${sender.xuid}}:*`);
    expect(keys.length).toBeGreaterThan(0);
    const slots = new Set(await Promise.all(keys.map((key) => redis.cluster('KEYSLOT', key))));
    expect([...slots]).toEqual([await redis.cluster('KEYSLOT', sender.xuid)]);
  });

  it('should stream a delivered message to the recipient over SSE (pub/sub through the cluster)', async () => {
    const [sender, recipient] = [await createUser(gateway.internalUrl), await createUser(gateway.internalUrl)];
    await makeFriends(gateway.internalUrl, sender.xuid, recipient.xuid);
    const stream = await openEventStream(gateway.url, recipient.xuid);
    try {
      expect(stream.status).toBe(200);
      await stream.next('ready');

      expect((await send(gateway.url, sender.xuid, [{ xuid: recipient.xuid }], { text: 'over the cluster' })).status).toBe(200);

      const event = await stream.next('message', 10_000);
      const [id] = await rows.messageIdsOf([sender.xuid]);
      expect(JSON.parse(event.data).header.id).toBe(id);
    } finally {
      stream.close();
    }
  });

  it('should keep every BullMQ key of the three queues under the {prefix} hash tag, on one slot', async () => {
    const keys = await clusterKeys(redis, `{${prefix}}:*`);
    const queues = new Set(keys.map((key) => key.split(':')[1]));
    expect(queues.has(DELIVERY_QUEUE)).toBe(true);
    const slot = await redis.cluster('KEYSLOT', prefix);
    const slots = new Set(await Promise.all(keys.map((key) => redis.cluster('KEYSLOT', key))));
    expect([...slots]).toEqual([slot]);
    // Nothing of BullMQ's outside the tag (single-node names would be "<prefix>:delivery:...").
    expect(await clusterKeys(redis, `${prefix}:${DELIVERY_QUEUE}:*`)).toEqual([]);
    expect(await clusterKeys(redis, `${prefix}:${BROADCAST_QUEUE}:*`)).toEqual([]);
  });
});
