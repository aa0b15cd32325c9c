/**
 * Delivery (ARCHITECTURE.md "Targets"): fan-out rows per second, and time from
 * a send's 200 to the message being visible in the recipient's inbox.
 *
 *   ts-node --transpile-only -r tsconfig-paths/register bench/delivery.ts [fan-out messages, default 2000] [latency sends, default 500]
 *
 * (a) Fan-out: N messages x 20 recipients are accepted over HTTP with no worker
 *     running, then one delivery worker starts and drains them; entries per
 *     second from its start, and between the first and last delivery. For
 *     scale, the same work without BullMQ (DeliveryService.deliver called
 *     directly) and the bare write statement, each 16 at a time.
 * (b) Latency: sends at a steady rate with the worker running; each is timed
 *     from its 200 until a GET of a recipient's inbox lists it (one poller,
 *     about every 2 ms), and server-side from acceptance (the message's sent
 *     time) to the delivery statement (delivered_at). Everything runs in this
 *     one process, so the poller's GETs compete with the worker: the same
 *     sends are then repeated with nobody polling.
 *
 * Uses DATABASE_URL's server (a scratch database is created and dropped) and
 * REDIS_URL (its keys under a private prefix are deleted at the end).
 */
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { INestApplication } from '@nestjs/common';
import Redis from 'ioredis';
import { DataSource } from 'typeorm';
import { loadConfig, loadConfigFromEnvironment, SharedConfig } from '@app/shared/config';
import { createDataSourceOptions } from '@app/shared/database';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { runMigrations } from '@app/shared/database/migrate';
import { runService } from '@app/shared/http/boot';
import { DEVELOPMENT_JWT_SECRET, signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { DeliveryConfig } from '../apps/delivery/src/delivery.config';
import { createDeliveryApp } from '../apps/delivery/src/delivery.factory';
import { DeliveryRepository } from '../apps/delivery/src/delivery.repository';
import { DeliveryService } from '../apps/delivery/src/delivery.service';
import { GatewayConfig } from '../apps/gateway/src/gateway.config';
import { createGatewayApp } from '../apps/gateway/src/gateway.factory';
import { QuotaConfig } from '../apps/quota/src/quota.config';
import { createQuotaApp } from '../apps/quota/src/quota.factory';
import { freePort } from '../test/setup/free-port';
import { withClient, withDatabase } from '../test/setup/postgres-admin';

const SENDERS = 100;
const RECIPIENTS = 200;
const PER_MESSAGE = 20;
const SEND_CONCURRENCY = 32;
const DIRECT_CONCURRENCY = 16;
const WORKER_CONCURRENCY = 16;
const LATENCY_RATE_PER_SECOND = 100;
const POLL_MS = 2;
const SENDER_BASE = 2_533_274_800_000_000n;
const RECIPIENT_BASE = 2_533_274_900_000_000n;
const WATCHER_BASE = 2_533_275_000_000_000n;
const LATENCY_TIMEOUT_MS = 30_000;

interface User {
  xuid: Xuid;
  authorization: string;
}

interface Users {
  senders: User[];
  recipients: User[];
  /** One per latency send, so its inbox holds that message alone. */
  watchers: User[];
}

interface FanOut {
  label: string;
  messages: number;
  entries: number;
  /** From the worker's start (or the first call) to the last message delivered. */
  wallMs: number;
  /** Between the first and the last delivery transaction, when known. */
  activeMs: number | null;
}

runService('bench:delivery', async () => {
  const messages = Number(process.argv[2] ?? 2000);
  const latencySends = Number(process.argv[3] ?? 500);
  if (!Number.isInteger(messages) || messages < 100) throw new Error('fan-out messages must be an integer >= 100');
  if (!Number.isInteger(latencySends) || latencySends < 100) throw new Error('latency sends must be an integer >= 100');
  const shared = loadConfigFromEnvironment(SharedConfig);
  const database = `xblmsg_bench_${Date.now()}_${process.pid}`;
  const adminUrl = withDatabase(shared.DATABASE_URL, 'postgres');
  const databaseUrl = withDatabase(shared.DATABASE_URL, database);
  const prefix = `bench-delivery-${process.pid}`;
  const settings = {
    NODE_ENV: 'development',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    REDIS_URL: shared.REDIS_URL,
    REDIS_PREFIX: prefix,
  };
  const apps: INestApplication[] = [];
  const start = async <T extends INestApplication>(app: Promise<T>): Promise<T> => {
    const started = await app;
    apps.push(started);
    return started;
  };

  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${database}"`));
  const dataSource = new DataSource({ ...createDataSourceOptions({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: DIRECT_CONCURRENCY }), logging: false });
  try {
    await runMigrations({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 });
    await dataSource.initialize();
    const users = await createUsers(dataSource, latencySends);

    const quotaPort = await freePort();
    const quota = await start(
      createQuotaApp(
        loadConfig(QuotaConfig, {
          ...settings,
          QUOTA_LISTEN_HOST: '127.0.0.1',
          QUOTA_PORT: String(quotaPort),
          LIMIT_MESSAGES_PER_DAY: '100000',
          LIMIT_RECIPIENTS_PER_DAY: '10000000',
          LIMIT_STRANGERS_PER_DAY: '10000000',
        }),
      ),
    );
    await quota.startAllMicroservices();
    await quota.listen(0, '127.0.0.1');
    const gateway = await start(createGatewayApp(loadConfig(GatewayConfig, { ...settings, QUOTA_PORT: String(quotaPort) })));
    await gateway.listen(0, '127.0.0.1');
    const base = (await gateway.getUrl()).replace('[::1]', '127.0.0.1');

    // (a) Fan-out through the queue: accept everything first, then let one worker drain it.
    const accepted = performance.now();
    const plan = Array.from({ length: messages }, (_, index) => ({
      sender: users.senders[index % SENDERS],
      recipients: pick(users.recipients, PER_MESSAGE),
      text: `fan-out ${index}`,
    }));
    await runConcurrently(plan, SEND_CONCURRENCY, (send) => post(base, send.sender, send.recipients, send.text));
    const acceptMs = performance.now() - accepted;
    process.stdout.write(`accepted ${messages} sends x ${PER_MESSAGE} recipients in ${ms(acceptMs)} ms (no worker running)\n`);

    const queued: string[] = (await dataSource.query(`SELECT id FROM messages`)).map((row: { id: string }) => row.id);
    const workerStarted = performance.now();
    const delivery = await start(
      createDeliveryApp(loadConfig(DeliveryConfig, { ...settings, DELIVERY_CONCURRENCY: String(WORKER_CONCURRENCY), DELIVERY_HTTP_PORT: '0' })),
    );
    await delivery.init();
    await waitUntilDelivered(dataSource);
    const fanOuts: FanOut[] = [
      {
        label: `worker (BullMQ, concurrency ${WORKER_CONCURRENCY}, pool ${delivery.get(DeliveryConfig).DATABASE_POOL_SIZE})`,
        ...(await fanOutResult(dataSource, queued, performance.now() - workerStarted)),
      },
    ];

    // The same work without the queue, then the bare statement: what the worker could approach.
    const service = delivery.get(DeliveryService);
    fanOuts.push(await direct(dataSource, users, messages, `DeliveryService.deliver x ${DIRECT_CONCURRENCY}, no queue, same pool`, (id) => service.deliver(id)));
    const repository = new DeliveryRepository(dataSource);
    const senderGamertag = 'BenchSender';
    fanOuts.push(
      await direct(dataSource, users, messages, `write statement alone x ${DIRECT_CONCURRENCY}`, async (id, message) => {
        await repository.writeEntries({
          messageId: id,
          sent: message.sent,
          expiration: message.expiration,
          senderXuid: message.sender,
          senderGamertag,
          messageType: MessageType.User,
          summary: 'direct',
          recipients: message.recipients,
        });
      }),
    );

    // (b) Latency with the worker running.
    process.stdout.write(`fan-out measured; now ${latencySends} sends at ${LATENCY_RATE_PER_SECOND}/s\n`);
    const latency = await measureLatency(base, dataSource, users, latencySends);
    const quiet = await measureQuietLatency(base, dataSource, users, latencySends);
    report(fanOuts, { ...latency, quiet }, latencySends);
  } finally {
    for (const app of apps.reverse()) await app.close().catch(() => undefined);
    if (dataSource.isInitialized) await dataSource.destroy();
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
    await deleteKeys(shared.REDIS_URL, prefix);
  }
});

async function createUsers(dataSource: DataSource, watchers: number): Promise<Users> {
  const make = async (base: bigint, count: number, tag: string) => {
    const xuids = Array.from({ length: count }, (_, index) => (base + BigInt(index)).toString() as Xuid);
    await dataSource.query(
      `INSERT INTO users (xuid, gamertag) SELECT x, $2 || ordinality FROM unnest($1::numeric[]) WITH ORDINALITY AS x`,
      [xuids, tag],
    );
    return Promise.all(
      xuids.map(async (xuid) => ({
        xuid,
        authorization: `Bearer ${await signUserToken({ xuid, tier: SubscriptionTier.Gold, secret: DEVELOPMENT_JWT_SECRET, expiresInSeconds: 3600 })}`,
      })),
    );
  };
  return {
    senders: await make(SENDER_BASE, SENDERS, 'BenchS'),
    recipients: await make(RECIPIENT_BASE, RECIPIENTS, 'BenchR'),
    watchers: await make(WATCHER_BASE, watchers, 'BenchW'),
  };
}

async function post(base: string, sender: User, recipients: { xuid: Xuid }[], text: string): Promise<void> {
  const response = await fetch(`${base}/users/xuid(${sender.xuid})/outbox`, {
    method: 'POST',
    headers: { authorization: sender.authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ header: { recipients: recipients.map(({ xuid }) => ({ xuid })) }, messageText: text }),
  });
  const body = await response.text();
  if (response.status !== 200 || body !== '') throw new Error(`send "${text}": ${response.status} ${body}`);
}

async function waitUntilDelivered(dataSource: DataSource): Promise<void> {
  for (;;) {
    const [{ n }]: { n: number }[] = await dataSource.query(`SELECT count(*)::int AS n FROM messages WHERE delivered_at IS NULL`);
    if (n === 0) return;
    await sleep(20);
  }
}

/** Entries written for the messages, and the span of their delivery transactions. */
async function fanOutResult(dataSource: DataSource, ids: string[], wallMs: number): Promise<Omit<FanOut, 'label'>> {
  const [row]: { entries: number; active_ms: number }[] = await dataSource.query(
    `SELECT (SELECT count(*)::int FROM inbox_entries WHERE message_id = ANY($1::varchar[])) AS entries,
            extract(epoch FROM max(delivered_at) - min(delivered_at)) * 1000 AS active_ms
       FROM messages WHERE id = ANY($1::varchar[])`,
    [ids],
  );
  return { messages: ids.length, entries: row.entries, wallMs, activeMs: Number(row.active_ms) };
}

interface DirectMessage {
  sender: Xuid;
  recipients: Xuid[];
  sent: Date;
  expiration: Date;
}

/** Stores `count` undelivered messages straight into Postgres (no job), then delivers them `DIRECT_CONCURRENCY` at a time. */
async function direct(
  dataSource: DataSource,
  users: Users,
  count: number,
  label: string,
  deliver: (id: string, message: DirectMessage) => Promise<unknown>,
): Promise<FanOut> {
  const sent = new Date();
  const expiration = new Date(sent.getTime() + 30 * 86_400_000);
  const batch = Array.from({ length: count }, (_, index) => ({
    id: `${label.slice(0, 1)}${Date.now()}-${String(index).padStart(7, '0')}`,
    sender: users.senders[index % SENDERS].xuid,
    recipients: pick(users.recipients, PER_MESSAGE).map(({ xuid }) => xuid),
    sent,
    expiration,
  }));
  await dataSource.query(
    `INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration)
     SELECT m.id, m.sender, 'User', 'direct ' || m.id, string_to_array(m.recipients, ',')::numeric[], $4, $5
       FROM unnest($1::text[], $2::numeric[], $3::text[]) AS m(id, sender, recipients)`,
    [batch.map((m) => m.id), batch.map((m) => m.sender), batch.map((m) => m.recipients.join(',')), sent, expiration],
  );
  const started = performance.now();
  await runConcurrently(batch, DIRECT_CONCURRENCY, (message) => deliver(message.id, message));
  const wallMs = performance.now() - started;
  return { label, ...(await fanOutResult(dataSource, batch.map((m) => m.id), wallMs)) };
}

interface Watch {
  watched: User;
  accepted: number;
  seen: (visibleMs: number) => void;
}

/**
 * Sends at a steady rate; one poller GETs the watched inbox of every message
 * not yet seen, one request at a time, then waits POLL_MS. (A poll loop per
 * message would multiply the load on the process as latency grows, and
 * measure its own interference.)
 */
async function measureLatency(base: string, dataSource: DataSource, users: Users, sends: number): Promise<{ visible: number[]; server: number[] }> {
  const interval = 1000 / LATENCY_RATE_PER_SECOND;
  const pending = new Set<Watch>();
  let sending = true;
  const poller = (async () => {
    while (sending || pending.size > 0) {
      for (const watch of [...pending]) {
        const response = await fetch(`${base}/users/xuid(${watch.watched.xuid})/inbox?maxItems=1`, {
          headers: { authorization: watch.watched.authorization },
        });
        const body = (await response.json()) as { results: unknown[] };
        if (response.status !== 200) throw new Error(`GET inbox: ${response.status}`);
        if (performance.now() - watch.accepted > LATENCY_TIMEOUT_MS) throw new Error(`a message was not listed after ${LATENCY_TIMEOUT_MS} ms`);
        if (body.results.length === 1) {
          pending.delete(watch);
          watch.seen(performance.now() - watch.accepted);
        }
      }
      await sleep(POLL_MS);
    }
  })();

  const started = performance.now();
  const seen: Promise<number>[] = [];
  const sent = Promise.all(
    Array.from({ length: sends }, async (_, index) => {
      await sleep(Math.max(0, started + index * interval - performance.now()));
      const watched = users.watchers[index];
      await post(base, users.senders[index % SENDERS], [watched, ...pick(users.recipients, PER_MESSAGE - 1)], `latency ${index}`);
      const accepted = performance.now();
      seen[index] = new Promise<number>((resolve) => pending.add({ watched, accepted, seen: resolve }));
    }),
  ).finally(() => (sending = false));
  // The poller rejects on any failure, so this never waits for a message that cannot be seen.
  const [visible] = await Promise.all([sent.then(() => Promise.all(seen)), poller]);
  const server: { ms: number }[] = await dataSource.query(
    `SELECT extract(epoch FROM delivered_at - sent) * 1000 AS ms FROM messages WHERE text LIKE 'latency %'`,
  );
  return { visible, server: server.map((row) => Number(row.ms)) };
}

/** The same sends with nobody polling: the server-side delay without the poller's load on the process. */
async function measureQuietLatency(base: string, dataSource: DataSource, users: Users, sends: number): Promise<number[]> {
  const interval = 1000 / LATENCY_RATE_PER_SECOND;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: sends }, async (_, index) => {
      await sleep(Math.max(0, started + index * interval - performance.now()));
      await post(base, users.senders[index % SENDERS], pick(users.recipients, PER_MESSAGE), `quiet ${index}`);
    }),
  );
  await waitUntilDelivered(dataSource);
  const rows: { ms: number }[] = await dataSource.query(
    `SELECT extract(epoch FROM delivered_at - sent) * 1000 AS ms FROM messages WHERE text LIKE 'quiet %'`,
  );
  return rows.map((row) => Number(row.ms));
}

function report(fanOuts: FanOut[], latency: { visible: number[]; server: number[]; quiet: number[] }, sends: number): void {
  const fanOutRows = fanOuts.map((run) => [
    run.label,
    run.messages.toLocaleString('en-US'),
    run.entries.toLocaleString('en-US'),
    ms(run.wallMs),
    Math.round(run.entries / (run.wallMs / 1000)).toLocaleString('en-US'),
    run.activeMs === null ? '' : Math.round(run.entries / (run.activeMs / 1000)).toLocaleString('en-US'),
  ]);
  process.stdout.write(`\n(a) Fan-out, ${PER_MESSAGE} recipients per message:\n\n`);
  table(['how', 'messages', 'entries', 'ms', 'entries/s', 'entries/s first..last delivery'], fanOutRows);

  const stats = (values: number[]) => [0.5, 0.9, 0.99, 1].map((q) => ms(quantile(values, q)));
  process.stdout.write(`\n(b) ${sends} sends at ${LATENCY_RATE_PER_SECOND}/s with the worker running, in ms:\n\n`);
  table(
    ['from', 'to', 'p50', 'p90', 'p99', 'max'],
    [
      ['200 of the send (client)', `listed by GET inbox (one poller, ${POLL_MS} ms pauses)`, ...stats(latency.visible)],
      ['message id minted (sent)', 'delivery statement began (delivered_at)', ...stats(latency.server)],
      ['same, no poller running', 'delivery statement began (delivered_at)', ...stats(latency.quiet)],
    ],
  );
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
  process.stdout.write(`${line(header)}\n|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

async function runConcurrently<T>(items: T[], concurrency: number, work: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) await work(items[next++]);
    }),
  );
}

/** `count` distinct random entries. */
function pick<T>(items: T[], count: number): T[] {
  const copy = [...items];
  for (let i = 0; i < count; i++) {
    const j = i + Math.floor(Math.random() * (copy.length - i));
    [copy[i], copy[j]] = [copy[j], copy[i]];
  }
  return copy.slice(0, count);
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const ms = (value: number): string => value.toFixed(1);

async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  try {
    for await (const keys of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
      if (keys.length > 0) await redis.unlink(...keys);
    }
  } finally {
    redis.disconnect();
  }
}

