import Redis from 'ioredis';
import { Client } from 'pg';
import { QuotaLedger } from '@app/shared/quota';
import { Xuid } from '@app/shared/xuid';
import { inboxPath } from '../factories/inbox.factory';
import { outboxPath, sendBody } from '../factories/outbox.factory';
import { bearer, createUsers, TestUser } from '../factories/users.factory';
import { cleanupsAfterEach } from '../setup/cleanups';
import { freePort } from '../setup/free-port';
import { privateDatabase } from '../setup/private-database';
import { deleteRedisKeys, privateRedisPrefix } from '../setup/redis-namespace';
import { ServiceProcess, spawnService } from '../setup/service-process';
import { Settings } from '../setup/services';
import { TcpProxy } from '../setup/tcp-proxy';
import { testRedisUrl } from '../setup/test-env';

const SENDERS = 10;
const RECIPIENTS = 12;
const PER_MESSAGE = 3;
// Short, so reservations of sends that died half-way lapse before the checks.
const PENDING_SECONDS = 4;
// Longer than any request may take: statement timeout (2 s) + quota timeout (1 s) + slack.
const REQUEST_TIMEOUT_MS = 15_000;
const CUT_MS = 3000;

interface Attempt {
  sender: Xuid;
  text: string;
  recipients: Xuid[];
  /** HTTP status, or 0 when the connection failed (the gateway was down or died mid-request). */
  status: number;
  ms: number;
  timedOut: boolean;
}

const sleep = (ms: number): Promise<void> => new Promise((wake) => setTimeout(wake, ms));
const between = (low: number, high: number): number => low + Math.floor(Math.random() * (high - low));

/**
 * The failure modes of one send, caused for real while many senders send:
 * the gateway SIGKILLed at random moments, quota SIGKILLed, Postgres and Redis
 * cut through TCP proxies, two delivery workers racing throughout. Its own
 * database and Redis namespace, so its fast sweepers touch nobody else's rows.
 * Afterwards: every 200 stored and delivered exactly once, quota consumed ==
 * stored for every sender, no 500, nothing hanging, reads served during the
 * Redis cut.
 */
describe('chaos: sends through process kills and dependency cuts', () => {
  const cleanups = cleanupsAfterEach();

  it('should lose nothing, duplicate nothing and charge exactly what was stored', async () => {
    const prefix = privateRedisPrefix('chaos');
    cleanups.push(() => deleteRedisKeys(prefix));
    const database = await privateDatabase('chaos');
    cleanups.push(() => database.drop());
    const postgres = await new TcpProxy('127.0.0.1', Number(new URL(database.url).port || 5432)).start();
    const redisProxy = await new TcpProxy('127.0.0.1', Number(new URL(testRedisUrl()).port || 6379)).start();
    cleanups.push(async () => {
      await postgres.stop();
      await redisProxy.stop();
    });
    const db = new Client({ connectionString: database.url });
    await db.connect();
    cleanups.push(() => db.end());

    const [quotaRpcPort, quotaHttpPort, gatewayPort] = [await freePort(), await freePort(), await freePort()];
    const common: Settings = {
      DATABASE_URL: postgres.rewrite(database.url),
      REDIS_URL: redisProxy.rewrite(testRedisUrl()),
      REDIS_PREFIX: prefix,
    };
    const quotaSettings: Settings = {
      ...common,
      QUOTA_PORT: quotaRpcPort,
      QUOTA_PENDING_SECONDS: PENDING_SECONDS,
      LIMIT_MESSAGES_PER_DAY: 100_000,
      LIMIT_RECIPIENTS_PER_DAY: 100_000,
      LIMIT_STRANGERS_PER_DAY: 100_000,
    };
    const gatewaySettings: Settings = { ...common, QUOTA_PORT: quotaRpcPort, DATABASE_STATEMENT_TIMEOUT_MS: 2000 };
    const deliverySettings: Settings = { ...common, REDELIVER_AFTER_SECONDS: 2, DELIVERY_CONCURRENCY: 8 };

    const running = new Set<ServiceProcess>();
    cleanups.push(async () => {
      for (const service of running) await service.stop();
    });
    const start = async (
      name: 'gateway' | 'quota' | 'delivery',
      settings: Settings,
      port?: number,
    ): Promise<ServiceProcess> => {
      const service = await spawnService(name, settings, port);
      running.add(service);
      await service.ready();
      return service;
    };
    const kill = async (service: ServiceProcess): Promise<void> => {
      running.delete(service);
      await service.stop();
    };

    let quota = await start('quota', quotaSettings, quotaHttpPort);
    let gateway = await start('gateway', gatewaySettings, gatewayPort);
    const url = `http://127.0.0.1:${gatewayPort}`;
    await Promise.all([start('delivery', deliverySettings), start('delivery', deliverySettings)]);

    const users = await createUsers(gateway.internalUrl, SENDERS + RECIPIENTS);
    const [senders, recipients] = [users.slice(0, SENDERS), users.slice(SENDERS)];

    // The load: every sender sends one message after another, each with a unique text.
    const attempts: Attempt[] = [];
    let sending = true;
    const sendLoop = async (sender: TestUser): Promise<void> => {
      const headers = { ...(await bearer(sender.xuid)), 'content-type': 'application/json' };
      for (let n = 0; sending; n++) {
        const chosen = [...recipients]
          .sort(() => Math.random() - 0.5)
          .slice(0, PER_MESSAGE)
          .map((user) => user.xuid);
        const text = `chaos ${sender.xuid} ${n}`;
        const started = Date.now();
        const attempt: Attempt = { sender: sender.xuid, text, recipients: chosen, status: 0, ms: 0, timedOut: false };
        try {
          const response = await fetch(`${url}${outboxPath(sender.xuid)}`, {
            method: 'POST',
            headers,
            body: JSON.stringify(
              sendBody(
                chosen.map((xuid) => ({ xuid })),
                text,
              ),
            ),
            signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
          });
          await response.arrayBuffer();
          attempt.status = response.status;
        } catch (error) {
          attempt.timedOut = (error as Error).name === 'TimeoutError';
        }
        attempt.ms = Date.now() - started;
        attempts.push(attempt);
        await sleep(attempt.status === 0 ? 100 : 20);
      }
    };
    const load = Promise.all(senders.map(sendLoop));

    // The faults, one after another, while the load runs.
    const reads: number[] = [];
    await sleep(1500);
    for (let kills = 0; kills < 3; kills++) {
      await sleep(between(300, 1500));
      await kill(gateway);
      gateway = await start('gateway', gatewaySettings, gatewayPort);
    }
    await sleep(1000);
    await kill(quota);
    quota = await start('quota', quotaSettings, quotaHttpPort);
    await sleep(1000);
    await postgres.stop();
    await sleep(CUT_MS);
    await postgres.start();
    await sleep(1500);
    await redisProxy.stop();
    const cutEnds = Date.now() + CUT_MS;
    while (Date.now() < cutEnds) {
      const reader = recipients[reads.length % recipients.length].xuid;
      const response = await fetch(`${url}${inboxPath(reader)}`, { headers: await bearer(reader) });
      await response.arrayBuffer();
      reads.push(response.status);
      await sleep(100);
    }
    await redisProxy.start();
    await sleep(2000);
    sending = false;
    await load;

    // Every stored message gets delivered (the sweeper catches what the cuts left behind).
    const undelivered = async (): Promise<number> =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM messages WHERE delivered_at IS NULL`)).rows[0].n);
    for (const deadline = Date.now() + 60_000; (await undelivered()) > 0 && Date.now() < deadline;) await sleep(250);
    expect(await undelivered()).toBe(0);
    // Reservations of sends that died before storing lapse after their deadline.
    await sleep(PENDING_SECONDS * 1000 + 500);

    // Every request answered as the contract allows, none hung.
    const statuses = new Map<number, number>();
    for (const attempt of attempts) statuses.set(attempt.status, (statuses.get(attempt.status) ?? 0) + 1);
    expect([...statuses.keys()].filter((status) => ![0, 200, 503].includes(status))).toEqual([]);
    expect(attempts.filter((attempt) => attempt.timedOut)).toEqual([]);
    expect(statuses.get(200) ?? 0).toBeGreaterThan(100);
    expect(reads.length).toBeGreaterThan(0);
    expect(reads.filter((status) => status !== 200)).toEqual([]);

    // Every 200 stored exactly once; nothing else stored twice; every stored message in every inbox it names.
    const stored = (
      await db.query<{ text: string; n: number; sender: string; recipients: number }>(
        `SELECT text, count(*)::int AS n, min(sender_xuid::text) AS sender, min(cardinality(recipients)) AS recipients
           FROM messages GROUP BY text`,
      )
    ).rows;
    const copies = new Map(stored.map((row) => [row.text, row.n]));
    expect(attempts.filter((attempt) => attempt.status === 200 && copies.get(attempt.text) !== 1).map((a) => a.text)).toEqual(
      [],
    );
    expect(stored.filter((row) => row.n !== 1)).toEqual([]);
    const missing = await db.query(
      `SELECT m.id FROM messages m CROSS JOIN LATERAL unnest(m.recipients) AS r(xuid)
        WHERE NOT EXISTS (SELECT 1 FROM inbox_entries e WHERE e.recipient_xuid = r.xuid AND e.message_id = m.id)`,
    );
    expect(missing.rows).toEqual([]);
    const counters = await db.query(
      `SELECT c.recipient_xuid, c.total_items, (SELECT count(*)::int FROM inbox_entries e WHERE e.recipient_xuid = c.recipient_xuid) AS entries
         FROM inbox_counters c WHERE c.total_items <> (SELECT count(*) FROM inbox_entries e WHERE e.recipient_xuid = c.recipient_xuid)`,
    );
    expect(counters.rows).toEqual([]);
    const unread = await db.query(
      `SELECT c.recipient_xuid, c.unread_items FROM inbox_counters c
        WHERE c.unread_items <> (SELECT count(*) FROM inbox_entries e WHERE e.recipient_xuid = c.recipient_xuid AND NOT e.is_read)`,
    );
    expect(unread.rows).toEqual([]);

    // Quota consumed == stored, for every sender.
    const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
    cleanups.push(async () => void (await redis.quit()));
    const ledger = new QuotaLedger(redis, prefix);
    const charged: Record<string, unknown> = {};
    const expected: Record<string, unknown> = {};
    for (const sender of senders) {
      const own = stored.filter((row) => row.sender === sender.xuid);
      const recipientsStored = own.reduce((sum, row) => sum + row.recipients, 0);
      expected[sender.xuid] = { messages: own.length, recipients: recipientsStored, strangers: recipientsStored, pending: 0 };
      charged[sender.xuid] = await ledger.usage(sender.xuid, Date.now(), 86_400_000);
    }
    expect(charged).toEqual(expected);
  }, 180_000);
});
