/**
 * Inbox event streams benchmark (docs/performance.md, Inbox event streams):
 * one gateway holding --streams open GET .../inbox/events (raw sockets from
 * --clients client processes), the real quota and delivery services from
 * dist/, then
 *   1. the sustained send rate: unpaced sends for --seconds, each to one
 *      streaming player (delivery must keep up: the rate counts messages
 *      delivered, not only accepted);
 *   2. paced sends at half that rate for --seconds, with the time from the
 *      delivery statement (messages.delivered_at, set at its start: an upper
 *      bound on commit to event) to the event arriving on the recipient's
 *      stream, p50/p99;
 * beside floors measured in the same run: a bare Redis PUBLISH to a
 * subscriber, and Postgres NOTIFY to a LISTENing connection (the transport
 * not chosen), and the gateway's memory before any stream opened.
 *
 *   npm run bench:streams [-- --streams 10000 --clients 4 --seconds 15]
 *   npm run bench:streams -- --deliver-cost [--messages 6000]   (the delivery statement beside a plain insert)
 */
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import Redis from 'ioredis';
import { Client } from 'pg';
import { signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { freePort } from '../../test/setup/free-port';
import { dropDatabase, migrate, recreateDatabase } from '../load/fill';
import { Env, forkTsWorker, spawnService, stopAll, waitReady, Worker } from '../load/processes';
import { Latencies } from '../load/report';
import { deleteRedisPrefix, ensureBuild } from '../load/setup';
import { ClientReply, ClientRequest } from './clients';
import { deliverCost } from './deliver-cost';

const log = (line: string): void => void process.stdout.write(`${line}\n`);
const argument = (name: string, fallback: number): number => {
  const index = process.argv.indexOf(`--${name}`);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};
const flag = (name: string): boolean => process.argv.includes(`--${name}`);
const withDatabase = (url: string, name: string): string => {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
};
const UNLIMITED = 1_000_000_000;
const XUID_BASE = 2_533_274_900_000_000n;
const SENDERS = 50;
const DATABASE = 'xblmsg_bench_streams';

async function main(): Promise<void> {
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/xblmsg';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const adminUrl = withDatabase(baseUrl, 'postgres');
  if (flag('deliver-cost')) {
    log(
      `deliver cost: ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); 5 recipients a message, batches of 50, 4 connections`,
    );
    const cost = await deliverCost({
      adminUrl,
      schema: 'current',
      messages: argument('messages', 6000),
      recipients: 5,
      batchSize: 50,
      concurrency: 4,
      rounds: 3,
      log,
    });
    log(
      `  median: deliver ${cost.statementEntriesPerSecond.toFixed(0)} entries/s, plain insert ${cost.floorEntriesPerSecond.toFixed(0)} ` +
        `entries/s, ratio ${cost.ratio.toFixed(2)}`,
    );
    return;
  }
  const streams = argument('streams', 10_000);
  const clientCount = argument('clients', 4);
  const seconds = argument('seconds', 15);
  const databaseUrl = withDatabase(baseUrl, DATABASE);
  const prefix = `xblbench-streams-${process.pid}`;
  const clients: Worker<ClientRequest, ClientReply>[] = [];
  try {
    const build = await ensureBuild(false, log);
    log(`streams benchmark: node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}); ${build}`);
    log(`  ${streams} streams from ${clientCount} client processes, ${SENDERS} senders, ${seconds} s a phase`);
    await recreateDatabase(adminUrl, DATABASE);
    await migrate(databaseUrl);
    const db = new Client({ connectionString: databaseUrl });
    await db.connect();
    await db.query(
      `INSERT INTO users (xuid, gamertag) SELECT ${XUID_BASE} + g, 'S' || g FROM generate_series(1, ${streams + SENDERS}) AS g`,
    );
    const xuidOf = (i: number): string => (XUID_BASE + BigInt(i + 1)).toString();
    const secret = randomBytes(32).toString('hex');
    const token = (xuid: string): Promise<string> =>
      signUserToken({
        xuid: xuid as Xuid,
        gamertag: `S${BigInt(xuid) - XUID_BASE}`,
        tier: SubscriptionTier.Gold,
        secret,
        expiresInSeconds: 7200,
      });
    const readers = await Promise.all(
      Array.from({ length: streams }, async (_, i) => ({ xuid: xuidOf(i), token: await token(xuidOf(i)) })),
    );
    const senders = await Promise.all(
      Array.from({ length: SENDERS }, async (_, i) => ({ xuid: xuidOf(streams + i), token: await token(xuidOf(streams + i)) })),
    );

    const [gatewayPort, quotaPort, quotaHttpPort, deliveryPort] = await Promise.all(
      Array.from({ length: 4 }, () => freePort()),
    );
    const common: Env = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
    };
    const quotaRpcKeys = `b1:${randomBytes(24).toString('hex')}`;
    const quota = spawnService(
      'quota',
      {
        ...common,
        QUOTA_LISTEN_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        QUOTA_HTTP_PORT: quotaHttpPort,
        LIMIT_MESSAGES_PER_DAY: UNLIMITED,
        LIMIT_RECIPIENTS_PER_DAY: UNLIMITED,
        LIMIT_STRANGERS_PER_DAY: UNLIMITED,
        QUOTA_RPC_KEYS: quotaRpcKeys,
      },
      `http://127.0.0.1:${quotaHttpPort}`,
    );
    const gateway = spawnService(
      'gateway',
      {
        ...common,
        HOST: '127.0.0.1',
        PORT: gatewayPort,
        INTERNAL_PORT: 0,
        THROTTLE_BURST_REQUESTS: 0,
        THROTTLE_SUSTAIN_REQUESTS: 0,
        THROTTLE_FAILED_AUTH_REQUESTS: 0,
        QUOTA_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        DATABASE_POOL_SIZE: 10,
        AUTH_JWT_SECRET: secret,
        ADMIN_TOKEN: randomBytes(16).toString('hex'),
        PAGING_TOKEN_KEYS: `b1:${randomBytes(24).toString('hex')}`,
        QUOTA_RPC_KEYS: quotaRpcKeys,
      },
      `http://127.0.0.1:${gatewayPort}`,
    );
    const delivery = spawnService(
      'delivery',
      {
        ...common,
        DELIVERY_HTTP_HOST: '127.0.0.1',
        DELIVERY_HTTP_PORT: deliveryPort,
        DATABASE_POOL_SIZE: 4,
        REDELIVER_AFTER_SECONDS: 600,
      },
      `http://127.0.0.1:${deliveryPort}`,
    );
    await Promise.all([waitReady(quota), waitReady(gateway), waitReady(delivery)]);

    // --- floors: the transports alone, and the gateway without streams
    const redisFloor = await redisRoundTrips(redisUrl, `${prefix}:floor`, 2000);
    const notifyFloor = await notifyRoundTrips(databaseUrl, 2000);
    log(`  floor Redis PUBLISH -> subscriber: p50 ${fmt(redisFloor[0])} ms, p99 ${fmt(redisFloor[1])} ms`);
    log(`  floor Postgres NOTIFY -> LISTEN:   p50 ${fmt(notifyFloor[0])} ms, p99 ${fmt(notifyFloor[1])} ms`);
    await sleep(2000);
    const rssBefore = rssKiB(gateway.pid);

    // --- open the streams
    for (let i = 0; i < clientCount; i++)
      clients.push(forkTsWorker<ClientRequest, ClientReply>(`client-${i}`, 'bench/streams/clients.ts'));
    const share = Math.ceil(streams / clientCount);
    const opening = Date.now();
    const opened = (await Promise.all(
      clients.map((client, i) =>
        client.request({ op: 'open', port: gatewayPort, streams: readers.slice(i * share, (i + 1) * share), concurrency: 50 }),
      ),
    )) as { opened: number; refused: number }[];
    const openSeconds = (Date.now() - opening) / 1000;
    const openCount = opened.reduce((sum, r) => sum + r.opened, 0);
    log(`  opened ${openCount} streams (${opened.reduce((s, r) => s + r.refused, 0)} refused) in ${openSeconds.toFixed(1)} s`);
    await sleep(3000);
    const rssAfter = rssKiB(gateway.pid);
    log(
      `  gateway RSS ${(rssBefore / 1024).toFixed(0)} MiB before, ${(rssAfter / 1024).toFixed(0)} MiB with the streams: ${((rssAfter - rssBefore) / openCount).toFixed(1)} KiB a stream`,
    );

    const sendUrl = (sender: string): string => `http://127.0.0.1:${gatewayPort}/users/xuid(${sender})/outbox`;
    let sequence = 0;
    const sendOne = async (): Promise<boolean> => {
      const n = sequence++;
      const sender = senders[n % SENDERS];
      const recipient = readers[Math.floor(Math.random() * streams)];
      const response = await fetch(sendUrl(sender.xuid), {
        method: 'POST',
        headers: { authorization: `Bearer ${sender.token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ header: { recipients: [{ xuid: recipient.xuid }] }, messageText: `bench ${n}` }),
      });
      await response.arrayBuffer();
      return response.status === 200;
    };
    const delivered = async (): Promise<number> =>
      Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM messages WHERE delivered_at IS NOT NULL`)).rows[0].n);

    // --- 1. sustained rate: unpaced, 32 at a time; counts what was delivered in the window
    const before = await delivered();
    const deadline = Date.now() + seconds * 1000;
    let accepted = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (Date.now() < deadline) if (await sendOne()) accepted++;
      }),
    );
    const deliveredInWindow = (await delivered()) - before;
    const sustained = Math.min(accepted, deliveredInWindow) / seconds;
    log(
      `  1. unpaced: ${(accepted / seconds).toFixed(0)} sends/s accepted, ${(deliveredInWindow / seconds).toFixed(0)} delivered/s: sustained ${sustained.toFixed(0)}/s`,
    );
    await sleep(5000);
    await Promise.all(clients.map((client) => client.request({ op: 'collect' })));

    // --- 2. half that rate, paced; latency from delivered_at to the event
    const rate = Math.max(1, Math.floor(sustained / 2));
    const phaseStart = await db.query<{ now: Date }>('SELECT now()');
    const startedAt = Date.now();
    const total = rate * seconds;
    // When each event passed through Redis, as a bare subscriber beside the gateway sees it: splits the
    // latency into delivery's share (statement start to publish) and the gateway's (publish to the client).
    const tap = new Redis(redisUrl);
    const publishedAt = new Map<string, number>();
    tap.on('pmessage', (_pattern: string, _channel: string, message: string) => {
      const event = JSON.parse(message) as { kind: string; entry?: { messageId: string } };
      if (event.kind === 'message' && event.entry) publishedAt.set(event.entry.messageId, Date.now());
    });
    await tap.psubscribe(`${prefix}:inbox-events:*`);
    // The same floor again, meanwhile: what the machine's scheduling does to a bare round trip under this load.
    const concurrentFloor = redisRoundTrips(redisUrl, `${prefix}:floor2`, seconds * 50, 20);
    const inFlight: Promise<boolean>[] = [];
    for (let i = 0; i < total; i++) {
      const due = startedAt + (i * 1000) / rate;
      const wait = due - Date.now();
      if (wait > 0) await sleep(wait);
      inFlight.push(sendOne());
    }
    const ok = (await Promise.all(inFlight)).filter(Boolean).length;
    const floorMeanwhile = await concurrentFloor;
    await sleep(3000);
    const replies = (await Promise.all(clients.map((client) => client.request({ op: 'collect' })))) as {
      received: [string, number][];
      open: number;
      endedEarly: number;
    }[];
    const receivedAt = new Map<string, number>();
    let duplicates = 0;
    for (const reply of replies)
      for (const [id, at] of reply.received) {
        if (receivedAt.has(id)) duplicates++;
        else receivedAt.set(id, at);
      }
    const rows = await db.query<{ id: string; at: number }>(
      `SELECT id, extract(epoch FROM delivered_at) * 1000 AS at FROM messages WHERE sent >= $1 AND delivered_at IS NOT NULL`,
      [phaseStart.rows[0].now],
    );
    tap.disconnect();
    const latencies = new Latencies();
    const deliveryShare = new Latencies();
    const gatewayShare = new Latencies();
    let missing = 0;
    for (const row of rows.rows) {
      const at = receivedAt.get(row.id);
      if (at === undefined) missing++;
      else latencies.record(Math.max(0, at - Number(row.at)));
      const published = publishedAt.get(row.id);
      if (at !== undefined && published !== undefined) {
        deliveryShare.record(Math.max(0, published - Number(row.at)));
        gatewayShare.record(Math.max(0, at - published));
      }
    }
    const [p50, p99] = latencies.percentiles(50, 99);
    const [d50, d99] = deliveryShare.percentiles(50, 99);
    const [g50, g99] = gatewayShare.percentiles(50, 99);
    log(
      `  2. paced at ${rate}/s for ${seconds} s: ${ok} accepted, ${rows.rowCount} delivered, ${latencies.count} events received, ${missing} missing, ${duplicates} duplicates`,
    );
    log(
      `     delivery statement -> event: p50 ${fmt(p50)} ms, p99 ${fmt(p99)} ms (target p99 <= 100 ms); ` +
        `${(p50 / redisFloor[0]).toFixed(1)}x / ${(p99 / redisFloor[1]).toFixed(1)}x the bare PUBLISH floor`,
    );
    log(
      `     of which statement start -> seen on Redis: p50 ${fmt(d50)} ms, p99 ${fmt(d99)} ms; Redis -> client: p50 ${fmt(g50)} ms, p99 ${fmt(g99)} ms`,
    );
    log(
      `     floor meanwhile (Redis PUBLISH -> subscriber every 20 ms during the phase): p50 ${fmt(floorMeanwhile[0])} ms, p99 ${fmt(floorMeanwhile[1])} ms`,
    );
    log(
      `     streams still open ${replies.reduce((s, r) => s + r.open, 0)}, ended early ${replies.reduce((s, r) => s + r.endedEarly, 0)}`,
    );
    await db.end();
  } finally {
    for (const client of clients) await client.request({ op: 'close' }).catch(() => undefined);
    await stopAll();
    await deleteRedisPrefix(redisUrl, prefix).catch(() => undefined);
    await dropDatabase(adminUrl, DATABASE).catch(() => undefined);
  }
}

const fmt = (ms: number): string => ms.toFixed(ms < 10 ? 2 : 0);

function rssKiB(pid: number): number {
  const line = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return line ? Number(line[1]) : NaN;
}

/** PUBLISH on one connection, received on a subscriber: p50, p99 in ms, one at a time. */
async function redisRoundTrips(url: string, channel: string, count: number, everyMs = 0): Promise<[number, number]> {
  const publisher = new Redis(url);
  const subscriber = new Redis(url);
  await subscriber.subscribe(channel);
  const latencies = new Latencies();
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const got = new Promise<void>((resolve) => subscriber.once('message', () => resolve()));
    await publisher.publish(channel, `{"kind":"message","sequence":${i}}`);
    await got;
    latencies.record(performance.now() - started);
    if (everyMs > 0) await sleep(everyMs);
  }
  publisher.disconnect();
  subscriber.disconnect();
  return latencies.percentiles(50, 99) as [number, number];
}

/** NOTIFY in its own transaction, received by a LISTENing connection: p50, p99 in ms. */
async function notifyRoundTrips(url: string, count: number): Promise<[number, number]> {
  const notifier = new Client({ connectionString: url });
  const listener = new Client({ connectionString: url });
  await Promise.all([notifier.connect(), listener.connect()]);
  await listener.query('LISTEN bench_inbox');
  const latencies = new Latencies();
  for (let i = 0; i < count; i++) {
    const started = performance.now();
    const got = new Promise<void>((resolve) => listener.once('notification', () => resolve()));
    await notifier.query(`NOTIFY bench_inbox, '{"kind":"message","sequence":${i}}'`);
    await got;
    latencies.record(performance.now() - started);
  }
  await Promise.all([notifier.end(), listener.end()]);
  return latencies.percentiles(50, 99) as [number, number];
}

main().then(
  () => process.exit(0),
  async (error: Error) => {
    log(`! ${error.stack ?? error.message}`);
    await stopAll().catch(() => undefined);
    process.exit(1);
  },
);
