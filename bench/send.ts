/**
 * POST outbox cost: builds a directory of a few thousand users with
 * friendships in a scratch database, serves it from a real gateway and quota
 * service, and times sends of 5 recipients (2 friends, 3 strangers; 4 named
 * by XUID, 1 by gamertag) over HTTP: first one at a time, then 32 at a time.
 * Senders are spread out so that no limit is reached. For context it also
 * times, in the same run, the raw steps a send is made of: the quota script
 * (one EVALSHA), the message INSERT, the directory lookups and the BullMQ add.
 *
 *   ts-node --transpile-only -r tsconfig-paths/register bench/send.ts [sends per phase, default 3000]
 *
 * Uses DATABASE_URL's server (the scratch database is created and dropped) and
 * REDIS_URL (every key it creates is under its own prefix, deleted at the end).
 */
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { ulid } from 'ulid';
import { loadConfig, loadConfigFromEnvironment, SharedConfig } from '@app/shared/config';
import { DELIVER_MESSAGE_JOB_OPTIONS, DELIVERY_JOBS, DELIVERY_QUEUE } from '@app/shared/contracts';
import { runMigrations } from '@app/shared/database/migrate';
import { runService } from '@app/shared/http/boot';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { DEVELOPMENT_JWT_SECRET, signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../apps/gateway/src/gateway.config';
import { createGatewayApp } from '../apps/gateway/src/gateway.factory';
import { QuotaConfig } from '../apps/quota/src/quota.config';
import { createQuotaApp } from '../apps/quota/src/quota.factory';
import { freePort } from '../test/setup/free-port';
import { withClient, withDatabase } from '../test/setup/postgres-admin';

const USERS = 4000;
const FIRST_XUID = 2_533_274_790_000_000n;
const RECIPIENTS = 5;
const CONCURRENCY = 32;
const WARMUP = 200;
const RAW_SAMPLES = 2000;

interface Sender {
  xuid: Xuid;
  authorization: string;
  body: string;
}

interface Phase {
  name: string;
  samples: number[];
  wallMs: number;
}

const xuidOf = (index: number): Xuid => (FIRST_XUID + BigInt(index % USERS)).toString() as Xuid;
const gamertagOf = (index: number): string => `Bench${index % USERS}`;

runService('bench:send', async () => {
  const sends = Number(process.argv[2] ?? 3000);
  if (!Number.isInteger(sends) || sends < 500) throw new Error('sends per phase must be an integer >= 500');
  const shared = loadConfigFromEnvironment(SharedConfig);
  const database = `xblmsg_bench_${Date.now()}_${process.pid}`;
  const adminUrl = withDatabase(shared.DATABASE_URL, 'postgres');
  const databaseUrl = withDatabase(shared.DATABASE_URL, database);
  const prefix = `bench-send-${process.pid}`;
  const settings = {
    NODE_ENV: 'test',
    LOG_LEVEL: 'silent',
    DATABASE_URL: databaseUrl,
    REDIS_URL: shared.REDIS_URL,
    REDIS_PREFIX: prefix,
  };

  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${database}"`));
  try {
    await runMigrations({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 });
    await withClient(databaseUrl, fill);

    const quotaConfig = loadConfig(QuotaConfig, { ...settings, QUOTA_LISTEN_HOST: '127.0.0.1', QUOTA_PORT: '0', QUOTA_HTTP_PORT: '0' });
    // The RPC port must be known to the gateway: take the one the OS gives a first listener.
    quotaConfig.QUOTA_PORT = await freePort();
    const quota = await createQuotaApp(quotaConfig);
    await quota.startAllMicroservices();
    await quota.listen(0, '127.0.0.1');
    const gatewayConfig = loadConfig(GatewayConfig, { ...settings, QUOTA_PORT: String(quotaConfig.QUOTA_PORT) });
    const gateway = await createGatewayApp(gatewayConfig);
    await gateway.listen(0, '127.0.0.1');
    const base = (await gateway.getUrl()).replace('[::1]', '127.0.0.1');
    try {
      await waitUntilReady(base);
      // Sender i writes to the 5 users after it; each phase uses its own senders.
      const senders = await Promise.all(Array.from({ length: USERS }, (_, i) => senderAt(i)));
      let next = 0;
      const take = (): Sender => senders[next++ % USERS];

      await sequential(base, take, WARMUP);
      const oneByOne = await sequential(base, take, sends);
      const concurrent = await parallel(base, take, sends, CONCURRENCY);
      const raw = await rawCosts(databaseUrl, shared.REDIS_URL, prefix);
      report(sends, gatewayConfig.DATABASE_POOL_SIZE, [oneByOne, concurrent], raw);
    } finally {
      await gateway.close();
      await quota.close();
    }
  } finally {
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
    await deleteKeys(shared.REDIS_URL, prefix);
  }
});

/** USERS users; user i is friends with users i+1 and i+2 (so of its 5 recipients, 2 are friends). */
async function fill(client: Client): Promise<void> {
  const started = performance.now();
  await client.query(
    `INSERT INTO users (xuid, gamertag)
     SELECT $1::numeric + g, 'Bench' || g FROM generate_series(0, $2::int - 1) AS g`,
    [FIRST_XUID.toString(), USERS],
  );
  await client.query(
    `INSERT INTO friendships (user_xuid, friend_xuid)
     SELECT p.a, p.b
       FROM generate_series(0, $2::int - 1) AS g, generate_series(1, 2) AS d,
            LATERAL (VALUES ($1::numeric + g, $1::numeric + (g + d) % $2::int),
                            ($1::numeric + (g + d) % $2::int, $1::numeric + g)) AS p(a, b)
     ON CONFLICT DO NOTHING`,
    [FIRST_XUID.toString(), USERS],
  );
  await client.query('VACUUM ANALYZE');
  const [{ users }] = (await client.query<{ users: string }>('SELECT count(*) AS users FROM users')).rows;
  const [{ friendships }] = (await client.query<{ friendships: string }>('SELECT count(*) AS friendships FROM friendships')).rows;
  process.stdout.write(
    `directory: ${users} users, ${friendships} friendship rows, built in ${ms(performance.now() - started)} ms\n`,
  );
}

async function senderAt(index: number): Promise<Sender> {
  const xuid = xuidOf(index);
  const token = await signUserToken({
    xuid,
    tier: SubscriptionTier.Gold,
    secret: DEVELOPMENT_JWT_SECRET,
    expiresInSeconds: 3600,
  });
  const recipients = Array.from({ length: RECIPIENTS }, (_, k) =>
    k === RECIPIENTS - 1 ? { gamertag: gamertagOf(index + k + 1) } : { xuid: xuidOf(index + k + 1) },
  );
  return {
    xuid,
    authorization: `Bearer ${token}`,
    body: JSON.stringify({ header: { recipients }, messageText: `benchmark message from ${xuid}` }),
  };
}

async function post(base: string, sender: Sender): Promise<number> {
  const started = performance.now();
  const response = await fetch(`${base}/users/xuid(${sender.xuid})/outbox`, {
    method: 'POST',
    headers: { authorization: sender.authorization, 'content-type': 'application/json' },
    body: sender.body,
  });
  const text = await response.text();
  const elapsed = performance.now() - started;
  if (response.status !== 200) throw new Error(`POST outbox: ${response.status} ${text}`);
  return elapsed;
}

async function sequential(base: string, take: () => Sender, count: number): Promise<Phase> {
  const samples: number[] = [];
  const started = performance.now();
  for (let i = 0; i < count; i++) samples.push(await post(base, take()));
  return { name: 'sequential (1 in flight)', samples, wallMs: performance.now() - started };
}

async function parallel(base: string, take: () => Sender, count: number, concurrency: number): Promise<Phase> {
  const samples: number[] = [];
  let issued = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (issued < count) {
        issued++;
        samples.push(await post(base, take()));
      }
    }),
  );
  return { name: `concurrent (${concurrency} in flight)`, samples, wallMs: performance.now() - started };
}

/** The steps of one send, each timed alone against the same Postgres and Redis. */
async function rawCosts(databaseUrl: string, redisUrl: string, prefix: string): Promise<[string, number[]][]> {
  const redis = new Redis(redisUrl);
  const reserveSha = (await redis.script('LOAD', readFileSync(join(__dirname, '../apps/quota/src/lua/reserve-3.lua'), 'utf8'))) as string;
  const queue = new Queue(DELIVERY_QUEUE, { connection: redisOptionsFromUrl(redisUrl), prefix: `${prefix}-raw` });
  const client = new Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const results: [string, number[]][] = [];
    const time = async (name: string, step: (i: number) => Promise<unknown>) => {
      for (let i = 0; i < 100; i++) await step(-1 - i);
      const samples: number[] = [];
      for (let i = 0; i < RAW_SAMPLES; i++) {
        const started = performance.now();
        await step(i);
        samples.push(performance.now() - started);
      }
      results.push([name, samples]);
    };

    await time('Redis: EVALSHA reserve-3.lua (accepting)', (i) => {
      const base = `${prefix}-raw:quota:{sender${i}}`;
      return redis.evalsha(reserveSha, 3, `${base}:log`, `${base}:data`, `${base}:sums`, ulid(), RECIPIENTS, 3, 86_400_000, 250, 2500, 200, 20);
    });
    await time('Redis: PING (round trip)', () => redis.ping());
    await time('Postgres: INSERT message row', (i) =>
      client.query(
        `INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, request_id)
         VALUES ($1, $2, 'User', $3, $4::numeric[], $5, $6, $7)`,
        [ulid(), xuidOf(Math.abs(i)), 'raw insert', Array.from({ length: RECIPIENTS }, (_, k) => xuidOf(Math.abs(i) + k + 1)), new Date(), new Date(Date.now() + 2_592_000_000), 'raw'],
      ),
    );
    await time('Postgres: recipient lookup (4 XUIDs + sender, 1 gamertag)', (i) =>
      client.query(
        `SELECT xuid, gamertag, communication, NULL AS requested FROM users WHERE xuid = ANY($1::numeric[])
         UNION ALL
         SELECT u.xuid, u.gamertag, u.communication, g.requested
           FROM unnest($2::text[]) AS g(requested) JOIN users u ON lower(u.gamertag) = lower(g.requested)`,
        [[1, 2, 3, 4, 0].map((k) => xuidOf(Math.abs(i) + k)), [gamertagOf(Math.abs(i) + 5)]],
      ),
    );
    await time('Postgres: friends among 5', (i) =>
      client.query(`SELECT friend_xuid FROM friendships WHERE user_xuid = $1 AND friend_xuid = ANY($2::numeric[])`, [
        xuidOf(Math.abs(i)),
        [1, 2, 3, 4, 5].map((k) => xuidOf(Math.abs(i) + k)),
      ]),
    );
    await time('Postgres: SELECT 1 (round trip)', () => client.query('SELECT 1'));
    await time('BullMQ: Queue.add deliver-message', () =>
      queue.add(DELIVERY_JOBS.deliverMessage, { messageId: 'x' }, { ...DELIVER_MESSAGE_JOB_OPTIONS, jobId: ulid() }),
    );
    return results;
  } finally {
    await client.end();
    await queue.close();
    redis.disconnect();
  }
}

function report(sends: number, poolSize: number, phases: Phase[], raw: [string, number[]][]): void {
  process.stdout.write(
    `\nPOST /users/xuid(..)/outbox, ${RECIPIENTS} recipients each (2 friends, 3 strangers), ${sends} sends per phase ` +
      `after ${WARMUP} warm-up, gateway DATABASE_POOL_SIZE=${poolSize}:\n\n`,
  );
  const header = ['phase', 'sends/s', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'];
  const rows = phases.map((phase) => [
    phase.name,
    ((phase.samples.length / phase.wallMs) * 1000).toFixed(0),
    ms(quantile(phase.samples, 0.5)),
    ms(quantile(phase.samples, 0.9)),
    ms(quantile(phase.samples, 0.99)),
    ms(quantile(phase.samples, 1)),
  ]);
  table(header, rows);

  process.stdout.write(`\nRaw cost of the steps, one at a time from this process (${RAW_SAMPLES} each after 100 warm-up):\n\n`);
  table(
    ['step', 'p50 ms', 'p99 ms'],
    raw.map(([name, samples]) => [name, ms(quantile(samples, 0.5)), ms(quantile(samples, 0.99))]),
  );
}

function table(header: string[], rows: string[][]): void {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) =>
    `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join(' | ')} |`;
  process.stdout.write(`${line(header)}\n|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);
}

async function waitUntilReady(base: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await fetch(`${base}/readyz`).then((r) => r.status, () => 0)) !== 200) {
    if (Date.now() > deadline) throw new Error('the gateway did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function deleteKeys(redisUrl: string, prefix: string): Promise<void> {
  const redis = new Redis(redisUrl);
  try {
    let deleted = 0;
    // "bench-send-12*" would also match run 123's keys: keep only ours (":" or "-raw" follows).
    for await (const batch of redis.scanStream({ match: `${prefix}*`, count: 1000 }) as AsyncIterable<string[]>) {
      const keys = batch.filter((key) => /^[:-]/.test(key.slice(prefix.length)));
      if (keys.length > 0) deleted += await redis.unlink(...keys);
    }
    process.stdout.write(`\ncleanup: dropped the scratch database, deleted ${deleted} Redis keys under "${prefix}"\n`);
  } finally {
    redis.disconnect();
  }
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

const ms = (value: number): string => value.toFixed(2);

