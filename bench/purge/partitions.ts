/**
 * Partition drop against row-by-row purge, on a model of the inbox tables in a
 * scratch database (not the service's schema: the design prototype that
 * docs/performance.md, "Purge by partition", measures before the migration).
 *
 *   row-by-row  inbox entries deleted by key in batches, each batch decrementing
 *               its inboxes' counters (the service's purge today);
 *   partitions  entries partitioned by expiration day, counters kept per
 *               (recipient, expiry day) in a table partitioned the same way:
 *               the expired day goes as two DROP TABLEs, counters exact.
 *
 * Also: a lookup by (recipient, message id) alone probes every partition;
 * carrying the expiration prunes to one. Both timed over 30 daily partitions.
 *
 *   npm run bench:partitions [-- --sizes 10000,100000,1000000 --inboxes 10000]
 */
import { parseArgs } from 'node:util';
import { Client } from 'pg';
import { withClient, withDatabase } from '../../test/setup/postgres-admin';
import { dropDatabase, recreateDatabase } from '../load/fill';

const LIVE_DAYS = 30;
const LIVE_PER_DAY = 10_000;
const LOOKUPS = 2000;

interface Options {
  sizes: number[];
  inboxes: number;
  batch: number;
  database: string;
  keep: boolean;
}

function parseOptions(): Options {
  const { values } = parseArgs({
    options: {
      sizes: { type: 'string', default: '10000,100000,1000000' },
      inboxes: { type: 'string', default: '10000' },
      batch: { type: 'string', default: '5000' },
      database: { type: 'string', default: 'xblmsg_bench_partitions' },
      keep: { type: 'boolean', default: false },
    },
  });
  return {
    sizes: values.sizes.split(',').map(Number),
    inboxes: Number(values.inboxes),
    batch: Number(values.batch),
    database: values.database,
    keep: values.keep,
  };
}

const day = (offset: number): string => `(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '${offset} day')`;

async function buildRowByRow(client: Client, expired: number, inboxes: number): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS rr_entries, rr_counters`);
  await client.query(`CREATE TABLE rr_entries (recipient_xuid numeric(20,0) NOT NULL, message_id varchar(50) COLLATE "C" NOT NULL,
    expiration timestamptz NOT NULL, is_read boolean NOT NULL DEFAULT false, PRIMARY KEY (recipient_xuid, message_id))`);
  await client.query(`CREATE INDEX rr_entries_expiration_idx ON rr_entries (expiration)`);
  await client.query(
    `CREATE TABLE rr_counters (recipient_xuid numeric(20,0) PRIMARY KEY, total_items int NOT NULL, unread_items int NOT NULL)`,
  );
  await client.query(
    `INSERT INTO rr_entries SELECT i % $2, 'x' || i, ${day(-1)} - (i % 3600) * interval '1 second', i % 3 = 0
       FROM generate_series(1, $1) i`,
    [expired, inboxes],
  );
  await client.query(
    `INSERT INTO rr_entries SELECT i % $2, 'l' || i, ${day(1)} + (i % ${LIVE_DAYS}) * interval '1 day', false
       FROM generate_series(1, $1) i`,
    [LIVE_DAYS * LIVE_PER_DAY, inboxes],
  );
  await client.query(
    `INSERT INTO rr_counters SELECT recipient_xuid, count(*), count(*) FILTER (WHERE NOT is_read) FROM rr_entries GROUP BY 1`,
  );
  await client.query(`VACUUM ANALYZE rr_entries, rr_counters`);
}

async function purgeRowByRow(client: Client, batch: number): Promise<number> {
  let removed = 0;
  for (;;) {
    await client.query('BEGIN');
    const result = await client.query<{ n: string }>(
      `WITH doomed AS (SELECT recipient_xuid, message_id FROM rr_entries WHERE expiration <= now() LIMIT $1 FOR UPDATE SKIP LOCKED),
            removed AS (DELETE FROM rr_entries e USING doomed d
                         WHERE e.recipient_xuid = d.recipient_xuid AND e.message_id = d.message_id RETURNING e.recipient_xuid, e.is_read),
            per_inbox AS (SELECT recipient_xuid, count(*) AS n, count(*) FILTER (WHERE NOT is_read) AS unread FROM removed GROUP BY 1),
            decremented AS (UPDATE rr_counters c SET total_items = c.total_items - p.n, unread_items = c.unread_items - p.unread
                              FROM per_inbox p WHERE c.recipient_xuid = p.recipient_xuid RETURNING p.n)
       SELECT coalesce(sum(n), 0) AS n FROM decremented`,
      [batch],
    );
    await client.query('COMMIT');
    const n = Number(result.rows[0].n);
    if (n === 0) return removed;
    removed += n;
  }
}

async function buildPartitioned(client: Client, expired: number, inboxes: number): Promise<void> {
  await client.query(`DROP TABLE IF EXISTS p_entries, p_counters`);
  await client.query(`CREATE TABLE p_entries (recipient_xuid numeric(20,0) NOT NULL, message_id varchar(50) COLLATE "C" NOT NULL,
    expiration timestamptz NOT NULL, is_read boolean NOT NULL DEFAULT false, PRIMARY KEY (recipient_xuid, message_id, expiration))
    PARTITION BY RANGE (expiration)`);
  await client.query(`CREATE TABLE p_counters (recipient_xuid numeric(20,0) NOT NULL, bucket timestamptz NOT NULL,
    total_items int NOT NULL, unread_items int NOT NULL, PRIMARY KEY (recipient_xuid, bucket)) PARTITION BY RANGE (bucket)`);
  for (let offset = -2; offset <= LIVE_DAYS + 1; offset += 1) {
    const { rows } = await client.query<{ from: string; to: string }>(
      `SELECT ${day(offset)} AT TIME ZONE 'UTC' AS from, ${day(offset + 1)} AT TIME ZONE 'UTC' AS to`,
    );
    const suffix = `d${offset + 2}`;
    const bounds = `FROM ('${new Date(rows[0].from).toISOString()}') TO ('${new Date(rows[0].to).toISOString()}')`;
    await client.query(`CREATE TABLE p_entries_${suffix} PARTITION OF p_entries FOR VALUES ${bounds}`);
    await client.query(`CREATE TABLE p_counters_${suffix} PARTITION OF p_counters FOR VALUES ${bounds}`);
  }
  await client.query(`CREATE TABLE p_entries_default PARTITION OF p_entries DEFAULT`);
  await client.query(`CREATE TABLE p_counters_default PARTITION OF p_counters DEFAULT`);
  // Expired rows all fall in day -2 (partition d0), as in rr_entries.
  await client.query(
    `INSERT INTO p_entries SELECT i % $2, 'x' || i, ${day(-1)} AT TIME ZONE 'UTC' - (i % 3600) * interval '1 second', i % 3 = 0
       FROM generate_series(1, $1) i`,
    [expired, inboxes],
  );
  await client.query(
    `INSERT INTO p_entries SELECT i % $2, 'l' || i, ${day(1)} AT TIME ZONE 'UTC' + (i % ${LIVE_DAYS}) * interval '1 day', false
       FROM generate_series(1, $1) i`,
    [LIVE_DAYS * LIVE_PER_DAY, inboxes],
  );
  await client.query(`INSERT INTO p_counters SELECT recipient_xuid, date_trunc('day', expiration AT TIME ZONE 'UTC') AT TIME ZONE 'UTC',
    count(*), count(*) FILTER (WHERE NOT is_read) FROM p_entries GROUP BY 1, 2`);
  await client.query(`VACUUM ANALYZE p_entries, p_counters`);
}

async function purgePartitioned(client: Client): Promise<void> {
  await client.query(`SET lock_timeout = '2s'`);
  await client.query('BEGIN');
  await client.query(`DROP TABLE p_entries_d0`);
  await client.query(`DROP TABLE p_counters_d0`);
  await client.query('COMMIT');
  await client.query(`RESET lock_timeout`);
}

/** Inboxes whose counter differs from their rows; 0 when exact. */
async function counterMismatches(client: Client, entries: string, counters: string): Promise<number> {
  const { rows } = await client.query<{ n: string }>(
    `WITH kept AS (SELECT recipient_xuid, count(*) AS total, count(*) FILTER (WHERE NOT is_read) AS unread FROM ${entries} GROUP BY 1),
          counted AS (SELECT recipient_xuid, sum(total_items) AS total, sum(unread_items) AS unread FROM ${counters} GROUP BY 1)
     SELECT count(*) AS n FROM kept FULL JOIN counted USING (recipient_xuid)
      WHERE coalesce(kept.total, 0) <> coalesce(counted.total, 0) OR coalesce(kept.unread, 0) <> coalesce(counted.unread, 0)`,
  );
  return Number(rows[0].n);
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await work();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

/** Mean ms of a generic-plan lookup by key, with and without the partition key. */
async function lookups(client: Client): Promise<{ prefix: number; pruned: number; partitions: string }> {
  await client.query(`SET plan_cache_mode = force_generic_plan`);
  const { rows: keys } = await client.query<{ recipient_xuid: string; message_id: string; expiration: Date }>(
    `SELECT recipient_xuid, message_id, expiration FROM p_entries TABLESAMPLE SYSTEM (5) LIMIT $1`,
    [LOOKUPS],
  );
  const prefix = await timed(async () => {
    for (const key of keys)
      await client.query({
        name: 'prefix',
        text: `SELECT is_read FROM p_entries WHERE recipient_xuid = $1 AND message_id = $2`,
        values: [key.recipient_xuid, key.message_id],
      });
  });
  const pruned = await timed(async () => {
    for (const key of keys)
      await client.query({
        name: 'pruned',
        text: `SELECT is_read FROM p_entries WHERE recipient_xuid = $1 AND message_id = $2 AND expiration = $3`,
        values: [key.recipient_xuid, key.message_id, key.expiration],
      });
  });
  const { rows: plan } = await client.query<{ 'QUERY PLAN': string }>(
    `EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) EXECUTE prefix(${keys[0].recipient_xuid}, '${keys[0].message_id}')`,
  );
  await client.query(`RESET plan_cache_mode`);
  const scanned = plan.filter((row) => / on p_entries_/.test(row['QUERY PLAN'])).length;
  const removed = plan.find((row) => /Subplans Removed/.test(row['QUERY PLAN']))?.['QUERY PLAN'].trim() ?? 'none removed';
  return {
    prefix: prefix / keys.length,
    pruned: pruned / keys.length,
    partitions: `${scanned} partitions scanned (${removed})`,
  };
}

/**
 * Mean ms of a fan-out to 5 inboxes (entries inserted, conflicts ignored, each
 * new entry counted), plain table and counter vs partitioned table and
 * per-bucket counter. Run after a purge, so both sets of tables hold the live rows.
 */
async function fanOut(client: Client, inboxes: number): Promise<{ plain: number; partitioned: number }> {
  const rounds = 2000;
  const statement = (entries: string, counters: string, bucket: string, conflict: string): string =>
    `WITH added AS (INSERT INTO ${entries} (recipient_xuid, message_id, expiration)
       SELECT r, $2, $3 FROM unnest($1::numeric[]) r ORDER BY r ON CONFLICT DO NOTHING RETURNING recipient_xuid, expiration)
     INSERT INTO ${counters} SELECT recipient_xuid, ${bucket}count(*), count(*) FROM added GROUP BY 1
       ON CONFLICT (${conflict}) DO UPDATE SET total_items = ${counters}.total_items + excluded.total_items,
         unread_items = ${counters}.unread_items + excluded.unread_items`;
  const plainSql = statement('rr_entries', 'rr_counters', '', 'recipient_xuid');
  const partSql = statement(
    'p_entries',
    'p_counters',
    `date_trunc('day', min(expiration) AT TIME ZONE 'UTC') AT TIME ZONE 'UTC', `,
    'recipient_xuid, bucket',
  );
  const run = (name: string, text: string, tag: string): Promise<number> =>
    timed(async () => {
      await client.query({ name: `${name}-warm`, text, values: [['1'], `${tag}warm`, new Date(Date.now() + 86_400_000 * 10)] });
      for (let i = 0; i < rounds; i += 1) {
        const recipients = [0, 1, 2, 3, 4].map((k) => String((i * 5 + k) % inboxes));
        await client.query({ name, text, values: [recipients, `${tag}${i}`, new Date(Date.now() + 86_400_000 * 10)] });
      }
    });
  // Alternate, twice each, so neither gets the machine's quiet moment alone.
  let plain = 0;
  let partitioned = 0;
  for (const pass of [0, 1]) {
    plain += await run('plain', plainSql, `fp${pass}-`);
    partitioned += await run('part', partSql, `fq${pass}-`);
  }
  return { plain: plain / (2 * rounds), partitioned: partitioned / (2 * rounds) };
}

async function main(): Promise<void> {
  const options = parseOptions();
  const baseUrl = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/xblmsg';
  const adminUrl = withDatabase(baseUrl, 'postgres');
  const url = withDatabase(baseUrl, options.database);
  await recreateDatabase(adminUrl, options.database);
  try {
    await withClient(url, async (client) => {
      const out = (line: string): boolean => process.stdout.write(`${line}\n`);
      out(
        `inboxes ${options.inboxes}, live entries ${LIVE_DAYS * LIVE_PER_DAY} over ${LIVE_DAYS} days, row-by-row batch ${options.batch}`,
      );
      out(`expired entries   row-by-row ms   partition drop ms   ratio   counters exact (rr / part)`);
      for (const size of options.sizes) {
        await buildRowByRow(client, size, options.inboxes);
        const rr = await timed(async () => {
          const removed = await purgeRowByRow(client, options.batch);
          if (removed !== size) throw new Error(`row-by-row removed ${removed} of ${size}`);
        });
        const rrExact = await counterMismatches(client, 'rr_entries', 'rr_counters');
        if (size !== options.sizes[options.sizes.length - 1]) await client.query(`DROP TABLE rr_entries, rr_counters`);
        await buildPartitioned(client, size, options.inboxes);
        const { rows: sized } = await client.query<{ mb: string }>(
          `SELECT round((pg_total_relation_size('p_entries_d0') + pg_total_relation_size('p_counters_d0')) / 1048576.0) AS mb`,
        );
        const part = await timed(() => purgePartitioned(client));
        const partExact = await counterMismatches(client, 'p_entries', 'p_counters');
        out(
          `${String(size).padStart(15)}   ${rr.toFixed(0).padStart(13)}   ${part.toFixed(1).padStart(17)}   ${(rr / part).toFixed(0).padStart(5)}   ` +
            `${rrExact === 0 ? 'yes' : `NO (${rrExact})`} / ${partExact === 0 ? 'yes' : `NO (${partExact})`}   ${sized[0].mb} MB dropped`,
        );
      }
      // The row-by-row purge left dead rows behind; vacuumed, so the fan-out compares layouts, not bloat.
      await client.query(`VACUUM ANALYZE rr_entries, rr_counters`);
      const fan = await fanOut(client, options.inboxes);
      out(
        `fan-out to 5 inboxes + counters, mean of 4000: plain ${fan.plain.toFixed(3)} ms, partitioned + bucket counters ` +
          `${fan.partitioned.toFixed(3)} ms; ratio ${(fan.partitioned / fan.plain).toFixed(2)}`,
      );
      const probe = await lookups(client);
      out(
        `lookup by (recipient, message id), generic plan over ${LIVE_DAYS + 2} partitions + default: ${probe.prefix.toFixed(3)} ms; ` +
          `with expiration: ${probe.pruned.toFixed(3)} ms; ratio ${(probe.prefix / probe.pruned).toFixed(2)}; without: ${probe.partitions}`,
      );
    });
  } finally {
    if (!options.keep) await dropDatabase(adminUrl, options.database);
  }
}

main().catch((error: Error) => {
  process.stderr.write(`${error.stack ?? error.message}\n`);
  process.exit(1);
});
