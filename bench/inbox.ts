/**
 * GET inbox cost against inbox size (ARCHITECTURE.md "Targets"): builds inboxes
 * of 100, 10,000 and 100,000 messages in a scratch database, serves them from
 * a real gateway, and times first pages, deep pages (reached by following
 * tokens) and counts (maxItems=1) over HTTP, sequentially. Fails when a
 * 100,000-message inbox costs more than 1.5x a 100-message one, or when a page
 * query is not a backward scan of the page index.
 *
 *   ts-node --transpile-only -r tsconfig-paths/register bench/inbox.ts [requests per measurement, default 400]
 *
 * Uses DATABASE_URL's server (the scratch database is created and dropped) and REDIS_URL.
 */
import { performance } from 'node:perf_hooks';
import { Client } from 'pg';
import { loadConfig, loadConfigFromEnvironment, SharedConfig } from '@app/shared/config';
import { runMigrations } from '@app/shared/database/migrate';
import { runService } from '@app/shared/http/boot';
import { DEVELOPMENT_JWT_SECRET, signUserToken } from '@app/shared/tokens';
import { Xuid } from '@app/shared/xuid';
import { GatewayConfig } from '../apps/gateway/src/gateway.config';
import { createGatewayApp } from '../apps/gateway/src/gateway.factory';
import { INBOX_SQL } from '../apps/gateway/src/inbox/inbox.repository';
import { withClient, withDatabase } from '../test/setup/postgres-admin';

const SIZES = [100, 10_000, 100_000];
const EXPIRED_PER_INBOX = 20;
const WARMUP = 50;
const MAX_RATIO = 1.5;
const SENDER = '2533274790412952';

interface Inbox {
  size: number;
  owner: Xuid;
  authorization: string;
  deepToken: string;
}

type Metric = 'first page' | 'deep page' | 'count';
const METRICS: Metric[] = ['first page', 'deep page', 'count'];

runService('bench:inbox', async () => {
  const requests = Number(process.argv[2] ?? 400);
  if (!Number.isInteger(requests) || requests < 300) throw new Error('requests per measurement must be an integer >= 300');
  const shared = loadConfigFromEnvironment(SharedConfig);
  const database = `xblmsg_bench_${Date.now()}_${process.pid}`;
  const adminUrl = withDatabase(shared.DATABASE_URL, 'postgres');
  const databaseUrl = withDatabase(shared.DATABASE_URL, database);

  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE "${database}"`));
  try {
    await runMigrations({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 });
    const owners = await withClient(databaseUrl, fill);
    const plans = await withClient(databaseUrl, (client) => checkPlans(client, owners[owners.length - 1]));

    const config = loadConfig(GatewayConfig, {
      NODE_ENV: 'development',
      LOG_LEVEL: 'silent',
      DATABASE_URL: databaseUrl,
      REDIS_URL: shared.REDIS_URL,
      REDIS_PREFIX: `bench-${process.pid}`,
      HOST: '127.0.0.1',
      PORT: '0',
    });
    const app = await createGatewayApp(config);
    await app.listen(0, '127.0.0.1');
    const base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
    try {
      const inboxes: Inbox[] = [];
      for (const [index, size] of SIZES.entries()) {
        const owner = owners[index];
        const token = await signUserToken({ xuid: owner, secret: DEVELOPMENT_JWT_SECRET, expiresInSeconds: 3600 });
        const authorization = `Bearer ${token}`;
        inboxes.push({ size, owner, authorization, deepToken: await deepToken(base, owner, authorization, size) });
      }
      const results = await measure(base, inboxes, requests);
      report(results, inboxes, requests, plans);
    } finally {
      await app.close();
    }
  } finally {
    await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
  }
});

/** One sender, one inbox per size, each with a few expired entries the purge has not reached. */
async function fill(client: Client): Promise<Xuid[]> {
  await client.query(`INSERT INTO users (xuid, gamertag) VALUES ($1, 'BenchSender')`, [SENDER]);
  const owners: Xuid[] = [];
  for (const [index, size] of SIZES.entries()) {
    const owner = `${1000 + index}000000000000000` as Xuid;
    owners.push(owner);
    const started = performance.now();
    // Ids: a per-inbox letter and the zero-padded sequence, 26 characters that sort like `sent`.
    await client.query(
      `INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, delivered_at)
       SELECT chr(65 + $3) || lpad(g::text, 25, '0'), $1, 'User',
              'benchmark message number ' || g, ARRAY[$2::numeric],
              s.sent, s.sent + interval '30 days', now()
         FROM generate_series(1, $4::int) AS g
        CROSS JOIN LATERAL (
          SELECT CASE WHEN g <= $5::int THEN now() - interval '40 days' + g * interval '1 millisecond'
                      ELSE now() - interval '1 day' + g * interval '1 millisecond' END AS sent
        ) s`,
      [SENDER, owner, index, size + EXPIRED_PER_INBOX, EXPIRED_PER_INBOX],
    );
    await client.query(
      `INSERT INTO inbox_entries (recipient_xuid, message_id, sent, expiration,
                                  sender_xuid, sender_gamertag, message_type, summary)
       SELECT $1, id, sent, expiration, sender_xuid, 'BenchSender', message_type, left(text, 20)
         FROM messages WHERE $1::numeric = ANY(recipients)`,
      [owner],
    );
    await client.query(`INSERT INTO inbox_counters (recipient_xuid, total_items) VALUES ($1, $2)`, [
      owner,
      size + EXPIRED_PER_INBOX,
    ]);
    const took = ms(performance.now() - started);
    process.stdout.write(`built inbox of ${size} (+${EXPIRED_PER_INBOX} expired) in ${took} ms\n`);
  }
  await client.query('VACUUM ANALYZE');
  return owners;
}

/** EXPLAIN of the page statements on the largest inbox: a backward range scan of the page index, never a sort. */
async function checkPlans(client: Client, owner: Xuid): Promise<string[]> {
  const [cursor] = (
    await client.query<{ sent: string; id: string }>(
      `SELECT sent::text AS sent, message_id AS id FROM inbox_entries WHERE recipient_xuid = $1
        ORDER BY sent, message_id OFFSET $2 LIMIT 1`,
      [owner, EXPIRED_PER_INBOX + 50],
    )
  ).rows;
  const statements: [string, string, unknown[]][] = [
    ['first page', INBOX_SQL.firstPage, [owner, 26, 0]],
    ['deep page', INBOX_SQL.nextPage, [owner, 26, cursor.sent, cursor.id]],
  ];
  const lines: string[] = [];
  for (const [name, sql, params] of statements) {
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${sql}`, params);
    const plan = rows.map((row) => row['QUERY PLAN']);
    const ordered = plan.some((line) => line.includes('Index Scan Backward using inbox_entries_page_idx'));
    if (!ordered || plan.some((line) => /Sort|Seq Scan on inbox_entries/.test(line))) {
      throw new Error(`${name}: not an ordered scan of inbox_entries_page_idx:\n${plan.join('\n')}`);
    }
    lines.push(`${name}:`, ...plan.map((line) => `  ${line}`));
  }
  return lines;
}

/** A token for a page near the end: follow tokens (100 at a time) to about 50 items before the end. */
async function deepToken(base: string, owner: Xuid, authorization: string, size: number): Promise<string> {
  let position = 0;
  let token: string | null = null;
  const target = size - 50;
  while (position < target) {
    const step = Math.min(100, target - position);
    const query: string = `?maxItems=${step}${token ? `&continuationToken=${token}` : ''}`;
    const body = (await get(base, owner, authorization, query)) as { pagingInfo: { continuationToken: string | null } };
    token = body.pagingInfo.continuationToken;
    if (token === null) throw new Error(`inbox of ${size} ended early at ${position}`);
    position += step;
  }
  return token as string;
}

async function get(base: string, owner: Xuid, authorization: string, query: string): Promise<unknown> {
  const response = await fetch(`${base}/users/xuid(${owner})/inbox${query}`, { headers: { authorization } });
  const body = await response.json();
  if (response.status !== 200) throw new Error(`GET ${query}: ${response.status} ${JSON.stringify(body)}`);
  return body;
}

const queryOf = (metric: Metric, inbox: Inbox): string =>
  metric === 'first page' ? '' : metric === 'deep page' ? `?continuationToken=${inbox.deepToken}` : '?maxItems=1';

/** Sequential requests, sizes interleaved so that drift in the machine hits every size alike. */
async function measure(base: string, inboxes: Inbox[], requests: number): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>();
  for (const metric of METRICS) {
    for (let round = 0; round < WARMUP + requests; round++) {
      for (const inbox of inboxes) {
        const started = performance.now();
        const body = (await get(base, inbox.owner, inbox.authorization, queryOf(metric, inbox))) as {
          pagingInfo: { totalItems: number };
        };
        const elapsed = performance.now() - started;
        if (body.pagingInfo.totalItems !== inbox.size) {
          throw new Error(`inbox of ${inbox.size}: totalItems ${body.pagingInfo.totalItems}`);
        }
        if (round >= WARMUP) {
          const key = `${metric}|${inbox.size}`;
          if (!samples.has(key)) samples.set(key, []);
          samples.get(key)!.push(elapsed);
        }
      }
    }
  }
  return samples;
}

function report(samples: Map<string, number[]>, inboxes: Inbox[], requests: number, plans: string[]): void {
  const stat = (metric: Metric, size: number, q: number): number => quantile(samples.get(`${metric}|${size}`)!, q);
  const header = ['inbox size', ...METRICS.flatMap((metric) => [`${metric} p50`, `${metric} p99`])];
  const rows = inboxes.map((inbox) => [
    inbox.size.toLocaleString('en-US'),
    ...METRICS.flatMap((metric) => [ms(stat(metric, inbox.size, 0.5)), ms(stat(metric, inbox.size, 0.99))]),
  ]);
  const smallest = inboxes[0].size;
  const largest = inboxes[inboxes.length - 1].size;
  const ratios = METRICS.map((metric) => stat(metric, largest, 0.5) / stat(metric, smallest, 0.5));
  rows.push([
    `${largest.toLocaleString('en-US')} / ${smallest}`,
    ...ratios.flatMap((ratio) => [`${ratio.toFixed(2)}x`, '']),
  ]);

  process.stdout.write(`\nPlans on the ${largest.toLocaleString('en-US')}-message inbox:\n${plans.join('\n')}\n`);
  process.stdout.write(
    `\nGET /users/xuid(..)/inbox latency in ms, ${requests} sequential requests each (after ${WARMUP} warm-up):\n\n`,
  );
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: string[]) => `| ${cells.map((cell, column) => cell.padStart(widths[column])).join(' | ')} |`;
  process.stdout.write(`${line(header)}\n|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|\n`);
  for (const row of rows) process.stdout.write(`${line(row)}\n`);

  const failing = METRICS.filter((_, index) => ratios[index] > MAX_RATIO);
  if (failing.length > 0) {
    throw new Error(
      `median of the ${largest}-message inbox is over ${MAX_RATIO}x the ${smallest}-message one: ${failing.join(', ')}`,
    );
  }
  process.stdout.write(
    `\nOK: every median of the ${largest.toLocaleString('en-US')}-message inbox is within ${MAX_RATIO}x ` +
      `of the ${smallest}-message one.\n`,
  );
}

function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)];
}

const ms = (value: number): string => value.toFixed(2);

