/**
 * The broadcast benchmark: how fast does a system message to everyone reach
 * a directory of N users, beside the floor of the same rows written by a bare
 * multi-row INSERT loop in the same run, and do players' messages still
 * arrive in their normal time meanwhile? The real gateway, quota and delivery
 * from the build, against a scratch database and a private Redis prefix:
 *
 *   F  floor: the N inbox entries, BROADCAST_CHUNK_SIZE rows per INSERT
 *      (unnest of arrays), on as many connections as the delivery processes
 *      write chunks at once (no counters, no chunk bookkeeping); then the
 *      rows are truncated away;
 *   A  baseline: the 200-to-visible probe of a player's message, no broadcast;
 *   B  POST /admin/system-messages {"recipients":"all"}, timed from the call to
 *      the broadcast's `finished`, with the same probe running throughout.
 *
 *   npm run bench:broadcast [-- --users 1000000 --chunk 2000 --concurrency 2 --deliveries 1 --baseline 10]
 *
 * docs/performance.md ("Broadcasts") explains the run and how to read it.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { signUserToken, SubscriptionTier } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { freePort } from '../../test/setup/free-port';
import { withDatabase } from '../../test/setup/postgres-admin';
import { dropDatabase, migrate, recreateDatabase, XUID_BASE } from '../load/fill';
import { visibleLatency } from '../load/load';
import { Child, ROOT, spawnService, stopAll, waitReady } from '../load/processes';
import { Latencies, measurement, Measurement, measurementsTable, ratioLine, ratiosTable, writeJson } from '../load/report';
import { deleteRedisPrefix, ensureBuild } from '../load/setup';

const TARGET_RATIO = 0.5;
const LATENCY_BUDGET_P99_MS = 100;
const QUOTA_UNLIMITED = 2_000_000_000;

const USAGE = `npm run bench:broadcast -- [options]
  --users N          users in the directory, all of them recipients (1000000)
  --chunk N          BROADCAST_CHUNK_SIZE, and the floor's rows per INSERT (2000)
  --concurrency N    BROADCAST_CONCURRENCY of each delivery process (2)
  --yield-ms MS      BROADCAST_YIELD_LATENCY_MS of each delivery process (0: never pause)
  --deliveries N     delivery processes (1)
  --baseline S       seconds of the probe alone, before the broadcast (10)
  --poll-ms MS       poll interval of the probe (5)
  --keep             keep the scratch database
  --rebuild          npm run build first even if dist/ looks current`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: '1000000' },
      chunk: { type: 'string', default: '2000' },
      concurrency: { type: 'string', default: '2' },
      'yield-ms': { type: 'string', default: '0' },
      deliveries: { type: 'string', default: '1' },
      baseline: { type: 'string', default: '10' },
      'poll-ms': { type: 'string', default: '5' },
      keep: { type: 'boolean', default: false },
      rebuild: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const users = Number(values.users);
  const chunk = Number(values.chunk);
  const concurrency = Number(values.concurrency);
  const deliveries = Number(values.deliveries);
  const yieldMs = Number(values['yield-ms']);
  const baselineSeconds = Number(values.baseline);
  const pollMs = Number(values['poll-ms']);
  const log = (line: string): void => void process.stdout.write(`${line}\n`);

  const adminUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const database = `xblmsg_bench_broadcast_${randomBytes(3).toString('hex')}`;
  const databaseUrl = withDatabase(adminUrl, database);
  const prefix = `xblmsg-bench-broadcast-${randomBytes(3).toString('hex')}`;
  let db: Client | undefined;
  try {
    log(`· ${await ensureBuild(values.rebuild, log)}`);
    await recreateDatabase(withDatabase(adminUrl, 'postgres'), database);
    await migrate(databaseUrl);
    db = new Client({ connectionString: databaseUrl });
    await db.connect();
    const filled = Date.now();
    await db.query(
      `INSERT INTO users (xuid, gamertag, communication)
       SELECT $1::numeric + k, 'B' || k,
              CASE WHEN k % 10 = 3 THEN 'friends' WHEN k % 50 = 7 THEN 'blocked' ELSE 'everyone' END
         FROM generate_series(0, $2::int - 1) AS k`,
      [XUID_BASE.toString(), users],
    );
    await db.query('VACUUM ANALYZE users');
    log(`· directory: ${users} users in ${((Date.now() - filled) / 1000).toFixed(1)} s`);

    // --- F: the floor
    const writers = concurrency * deliveries;
    const floor = await insertFloor(databaseUrl, users, chunk, writers);
    await db.query('TRUNCATE inbox_entries');
    await db.query('VACUUM ANALYZE inbox_entries');
    log(`· floor: ${Math.round(floor.rate)} entries/s on ${writers} connections`);

    // --- the services
    const secret = randomBytes(32).toString('hex');
    const adminToken = randomBytes(16).toString('hex');
    const quotaRpcKeys = `b1:${randomBytes(24).toString('hex')}`;
    const common = {
      NODE_ENV: 'production',
      LOG_LEVEL: 'warn',
      DATABASE_URL: databaseUrl,
      REDIS_URL: redisUrl,
      REDIS_PREFIX: prefix,
    };
    const [gatewayPort, internalPort, quotaPort, quotaHttpPort] = await Promise.all(
      Array.from({ length: 4 }, () => freePort()),
    );
    const quota = spawnService(
      'quota',
      {
        ...common,
        QUOTA_LISTEN_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        QUOTA_HTTP_PORT: quotaHttpPort,
        LIMIT_MESSAGES_PER_DAY: QUOTA_UNLIMITED,
        LIMIT_RECIPIENTS_PER_DAY: QUOTA_UNLIMITED,
        LIMIT_STRANGERS_PER_DAY: QUOTA_UNLIMITED,
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
        INTERNAL_HOST: '127.0.0.1',
        INTERNAL_PORT: internalPort,
        THROTTLE_BURST_REQUESTS: 0,
        THROTTLE_SUSTAIN_REQUESTS: 0,
        QUOTA_HOST: '127.0.0.1',
        QUOTA_PORT: quotaPort,
        AUTH_JWT_SECRET: secret,
        ADMIN_TOKEN: adminToken,
        PAGING_TOKEN_KEYS: `b1:${randomBytes(24).toString('hex')}`,
        QUOTA_RPC_KEYS: quotaRpcKeys,
        BROADCAST_CHUNK_SIZE: chunk,
      },
      `http://127.0.0.1:${gatewayPort}`,
    );
    const workers: Child[] = [];
    for (let i = 0; i < deliveries; i++) {
      const port = await freePort();
      workers.push(
        spawnService(
          'delivery',
          {
            ...common,
            DELIVERY_HTTP_HOST: '127.0.0.1',
            DELIVERY_HTTP_PORT: port,
            BROADCAST_CONCURRENCY: concurrency,
            BROADCAST_YIELD_LATENCY_MS: yieldMs,
            DATABASE_POOL_SIZE: Math.max(10, 3 + concurrency),
          },
          `http://127.0.0.1:${port}`,
        ),
      );
    }
    for (const child of [quota, gateway, ...workers]) await waitReady(child);

    // The probe: one player messages another and watches the inbox for it.
    const [prober, watcher] = [XUID_BASE + 1n, XUID_BASE + 2n].map((xuid) => xuid.toString() as Xuid);
    const bearer = async (xuid: Xuid) =>
      `Bearer ${await signUserToken({ xuid, tier: SubscriptionTier.Gold, secret, expiresInSeconds: 6 * 3600 })}`;
    const [proberAuth, watcherAuth] = [await bearer(prober), await bearer(watcher)];
    const run = randomBytes(2).toString('hex');
    const probe = (label: string, until: Promise<unknown>): Promise<Measurement> =>
      visibleLatency({
        label,
        url: `http://127.0.0.1:${gatewayPort}`,
        probe: (n) => ({
          method: 'POST',
          path: `/users/xuid(${prober})/outbox`,
          headers: { authorization: proberAuth, 'content-type': 'application/json' },
          body: JSON.stringify({ header: { recipients: [{ xuid: watcher }] }, messageText: `${run}-${label[0]}-${n}` }),
        }),
        tag: (n) => `${run}-${label[0]}-${n}`,
        poll: { method: 'GET', path: `/users/xuid(${watcher})/inbox?maxItems=5`, headers: { authorization: watcherAuth } },
        pollMs,
        until,
      });

    // --- A: the probe alone
    const baseline = await probe('A user message, no broadcast', sleep(baselineSeconds * 1000));
    log(`· baseline probe: p99 ${baseline.p99Ms.toFixed(1)} ms`);

    // --- B: the broadcast, the probe throughout
    const internal = `http://127.0.0.1:${internalPort}`;
    const admin = { authorization: `Bearer ${adminToken}` };
    const before = await Promise.all(workers.map((worker) => metricsOf(worker.url)));
    let finish!: () => void;
    const ended = new Promise<void>((done) => (finish = done));
    const during = probe('B user message, during the broadcast', ended);
    const called = performance.now();
    const posted = await fetch(`${internal}/admin/system-messages`, {
      method: 'POST',
      headers: { ...admin, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: 'Bench news', messageText: 'Every user gets this once.', recipients: 'all' }),
    });
    const acceptMs = performance.now() - called;
    const created = (await posted.json()) as { id: string; targeted: number; chunks: number };
    if (posted.status !== 202) throw new Error(`POST /admin/system-messages: ${posted.status} ${JSON.stringify(created)}`);
    log(
      `· broadcast ${created.id}: ${created.targeted} recipients, ${created.chunks} chunks, accepted in ${acceptMs.toFixed(0)} ms`,
    );
    let status: { state: string; delivered: number; created: string; finished: string | null; chunksDone: number };
    let lastLog = 0;
    for (;;) {
      status = (await (
        await fetch(`${internal}/admin/system-messages/${created.id}`, { headers: admin })
      ).json()) as typeof status;
      if (status.state === 'done' || status.state === 'cancelled') break;
      if (Date.now() - lastLog > 5000) {
        lastLog = Date.now();
        log(`  ${status.delivered}/${created.targeted} entries, ${status.chunksDone}/${created.chunks} chunks`);
      }
      await sleep(100);
    }
    const wallSeconds = (performance.now() - called) / 1000;
    finish();
    const latencyDuring = await during;
    const after = await Promise.all(workers.map((worker) => metricsOf(worker.url)));
    const deliveryView = after.map((view, i) => duringPhase(before[i], view));
    const seconds = (Date.parse(status.finished!) - Date.parse(status.created)) / 1000;
    const [{ n: entries }] = (
      await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM inbox_entries WHERE message_id = $1`, [created.id])
    ).rows;
    const [{ n: badCounters }] = (
      await db.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM inbox_counters c
          WHERE c.total_items <> (SELECT count(*) FROM inbox_entries e WHERE e.recipient_xuid = c.recipient_xuid)`,
      )
    ).rows;
    const service = measurement('B broadcast "all" (created -> finished)', status.delivered, seconds, null, 0, {
      entries,
      wallSeconds: Number(wallSeconds.toFixed(2)),
      acceptMs: Number(acceptMs.toFixed(0)),
      badCounters,
    });
    const rows = [floor, baseline, service, latencyDuring];
    const ratios = [ratioLine('broadcast entries/s vs bare INSERT', service, floor, TARGET_RATIO)];

    log('');
    log(
      `broadcast benchmark: ${users} users, BROADCAST_CHUNK_SIZE ${chunk}, ${deliveries} delivery process(es) x ` +
        `BROADCAST_CONCURRENCY ${concurrency}, BROADCAST_YIELD_LATENCY_MS ${yieldMs}; ${cpus().length} cores (shared: other processes ran meanwhile)`,
    );
    log(measurementsTable(rows));
    log('');
    log(ratiosTable(ratios));
    log('');
    const p99 = latencyDuring.p99Ms;
    log(
      `user message 200->visible during the broadcast: p50 ${latencyDuring.p50Ms.toFixed(1)} ms, p99 ${p99.toFixed(1)} ms ` +
        `(budget ${LATENCY_BUDGET_P99_MS} ms: ${p99 < LATENCY_BUDGET_P99_MS ? 'ok' : 'MISS'}); baseline p99 ${baseline.p99Ms.toFixed(1)} ms`,
    );
    log(`exactly once: ${entries} entries for ${users} users, ${badCounters} counters off`);
    for (const [i, view] of deliveryView.entries()) {
      log(
        `delivery ${i + 1} during the broadcast: players' messages accepted -> committed and published (its histogram): ` +
          `${view.acceptance}; p99 <= ${view.p99Bound} ms; broadcast chunks paused ${view.paused.toFixed(1)} s (BROADCAST_YIELD_LATENCY_MS)`,
      );
    }
    const file = join(ROOT, 'bench/broadcast/results', `broadcast-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
    writeJson(file, { users, chunk, concurrency, yieldMs, deliveries, cores: cpus().length, rows, ratios });
    log(`results: ${relative(ROOT, file)}`);
  } finally {
    await stopAll();
    await db?.end().catch(() => undefined);
    await deleteRedisPrefix(redisUrl, prefix).catch(() => undefined);
    if (!values.keep) await dropDatabase(withDatabase(adminUrl, 'postgres'), database).catch(() => undefined);
  }
}

interface DeliveryView {
  /** Cumulative counts of delivery_acceptance_to_inbox_seconds by upper bound (seconds, as printed). */
  buckets: [string, number][];
  paused: number;
}

/** From a delivery process's /metrics: its acceptance-to-inbox histogram and the broadcast pauses so far. */
async function metricsOf(url: string): Promise<DeliveryView> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const buckets = [...text.matchAll(/^delivery_acceptance_to_inbox_seconds_bucket\{le="([^"]+)"\} (\d+)/gm)].map(
    ([, le, n]): [string, number] => [le, Number(n)],
  );
  const paused = Number(/^broadcast_paused_seconds_total (\S+)/m.exec(text)?.[1] ?? 0);
  return { buckets, paused };
}

/** What happened between two snapshots: the share of messages within each bound, and the bound holding the p99. */
function duringPhase(before: DeliveryView, after: DeliveryView) {
  const counts = after.buckets.map(([le, n], i): [string, number] => [le, n - (before.buckets[i]?.[1] ?? 0)]);
  const total = counts.at(-1)?.[1] ?? 0;
  const shares = counts
    .filter(([le]) => ['0.025', '0.05', '0.1', '0.25', '0.5'].includes(le))
    .map(([le, n]) => `<=${Number(le) * 1000} ms ${total === 0 ? '-' : ((100 * n) / total).toFixed(1)}%`);
  const p99 = counts.find(([, n]) => total > 0 && n >= 0.99 * total)?.[0];
  return {
    acceptance: `${total} messages, ${shares.join(', ')}`,
    p99Bound: p99 === undefined ? '-' : p99 === '+Inf' ? 'inf' : String(Number(p99) * 1000),
    paused: after.paused - before.paused,
  };
}

/**
 * The floor: the same N entries (one system message, the whole directory),
 * `chunk` rows per INSERT ... SELECT unnest($arrays) (a multi-row insert with
 * one bind per column), `writers` loops in parallel taking the next range.
 */
async function insertFloor(databaseUrl: string, users: number, chunk: number, writers: number): Promise<Measurement> {
  const clients = await Promise.all(
    Array.from({ length: writers }, async () => {
      const client = new Client({ connectionString: databaseUrl });
      await client.connect();
      return client;
    }),
  );
  const latencies = new Latencies();
  const expiration = new Date(Date.now() + 30 * 86_400_000);
  let next = 0;
  const started = performance.now();
  try {
    await Promise.all(
      clients.map(async (client) => {
        for (;;) {
          const start = next;
          next += chunk;
          if (start >= users) return;
          const xuids = Array.from({ length: Math.min(chunk, users - start) }, (_, k) =>
            (XUID_BASE + BigInt(start + k)).toString(),
          );
          const began = performance.now();
          await client.query({
            name: 'floor.insert',
            text: `INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, sender_xuid, sender_gamertag, message_type, summary)
                   SELECT x, $2, $3, 1, 'LIVE System', 'System', 'Bench news' FROM unnest($1::numeric[]) AS x`,
            values: [xuids, '01FLOOR0000000000000000000', expiration],
          });
          latencies.record(performance.now() - began);
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((client) => client.end()));
  }
  return measurement(`F floor: bare INSERT of ${chunk} rows`, users, (performance.now() - started) / 1000, latencies, 0, {
    connections: writers,
  });
}

const interrupt = (): void => {
  void stopAll().finally(() => process.exit(130));
};
process.once('SIGINT', interrupt);
process.once('SIGTERM', interrupt);
main().catch(async (error: Error) => {
  process.stderr.write(`bench:broadcast failed: ${error.stack ?? error.message}\n`);
  await stopAll();
  process.exit(1);
});
