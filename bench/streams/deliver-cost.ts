/**
 * What the inbox event sequence costs delivery: DELIVERY_SQL.deliver (imported
 * from the source, prepared under its name as the worker runs it) on sorted
 * batches of undelivered messages, beside a floor measured in the same run on
 * the same database: a plain INSERT of the same entries (no privacy reads, no
 * counters, no sequence). Rounds alternate statement and floor, so noise from
 * the machine's other work falls on both.
 *
 *   npm run bench:streams -- --deliver-cost [--schema before] [--messages 6000]
 *
 * `--schema before` migrates the bench database only up to the migration
 * before InboxEventSequence, to measure the statement of a build before it.
 */
import { randomBytes } from 'node:crypto';
import { cpus } from 'node:os';
import { performance } from 'node:perf_hooks';
import { Client, Pool } from 'pg';
import { DataSource } from 'typeorm';
import { createDataSourceOptions, MIGRATIONS } from '@app/shared/database';
import { messageIdFactory, sentOfMessageId } from '@app/shared/database/message-id';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';

export interface DeliverCostOptions {
  adminUrl: string;
  schema: 'current' | 'before';
  messages: number;
  recipients: number;
  batchSize: number;
  concurrency: number;
  rounds: number;
  log(line: string): void;
}

export interface DeliverCost {
  statementEntriesPerSecond: number;
  floorEntriesPerSecond: number;
  ratio: number;
}

const USERS = 2000;
const withDatabase = (url: string, name: string): string => {
  const parsed = new URL(url);
  parsed.pathname = `/${name}`;
  return parsed.toString();
};

export async function deliverCost(options: DeliverCostOptions): Promise<DeliverCost> {
  const name = `xblmsg_bench_streams_${randomBytes(3).toString('hex')}`;
  const admin = new Client({ connectionString: withDatabase(options.adminUrl, 'postgres') });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = withDatabase(options.adminUrl, name);
  const pool = new Pool({ connectionString: url, max: options.concurrency });
  // The database is dropped WITH (FORCE) at the end, which ends idle connections.
  pool.on('error', () => undefined);
  try {
    const migrations = options.schema === 'current' ? MIGRATIONS : MIGRATIONS.slice(0, MIGRATIONS.length - 1);
    const source = new DataSource({ ...createDataSourceOptions({ DATABASE_URL: url, DATABASE_POOL_SIZE: 2 }), migrations });
    await source.initialize();
    await source.runMigrations({ transaction: 'all' });
    await source.destroy();
    await pool.query(
      `INSERT INTO users (xuid, gamertag) SELECT 900000000 + g, 'B' || g FROM generate_series(1, ${USERS}) AS g`,
    );
    const statement: number[] = [];
    const floor: number[] = [];
    for (let round = 0; round < options.rounds; round++) {
      statement.push(await timedRound(pool, options, 'statement'));
      floor.push(await timedRound(pool, options, 'floor'));
      options.log(
        `  round ${round + 1}: deliver ${statement[round].toFixed(0)} entries/s, plain insert ${floor[round].toFixed(0)} entries/s`,
      );
    }
    const statementRate = median(statement);
    const floorRate = median(floor);
    return { statementEntriesPerSecond: statementRate, floorEntriesPerSecond: floorRate, ratio: statementRate / floorRate };
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

/** Stores `messages` undelivered messages, then writes their entries; entries per second of the writing. */
async function timedRound(pool: Pool, options: DeliverCostOptions, kind: 'statement' | 'floor'): Promise<number> {
  const nextId = messageIdFactory();
  const ids: string[] = [];
  const rows: { id: string; sender: number; recipients: number[] }[] = [];
  for (let i = 0; i < options.messages; i++) {
    const id = nextId();
    const sender = 900000001 + Math.floor(Math.random() * USERS);
    const recipients = new Set<number>();
    while (recipients.size < options.recipients) recipients.add(900000001 + Math.floor(Math.random() * USERS));
    ids.push(id);
    rows.push({ id, sender, recipients: [...recipients] });
  }
  for (let start = 0; start < rows.length; start += 1000) {
    const chunk = rows.slice(start, start + 1000);
    await pool.query(
      `INSERT INTO messages (id, sender_xuid, text, recipients, sent, expiration)
       SELECT m.id, m.sender, 'bench message text', ARRAY(SELECT jsonb_array_elements_text(m.recipients)::numeric),
              to_timestamp(m.sent / 1000.0), to_timestamp(m.sent / 1000.0) + interval '30 days'
         FROM jsonb_to_recordset($1::jsonb) AS m(id text, sender numeric, recipients jsonb, sent int8)`,
      [JSON.stringify(chunk.map((row) => ({ ...row, sent: sentOfMessageId(row.id) })))],
    );
  }
  await pool.query('VACUUM ANALYZE messages');
  const batches: string[][] = [];
  for (let start = 0; start < ids.length; start += options.batchSize)
    batches.push(ids.slice(start, start + options.batchSize).sort());
  const started = performance.now();
  let next = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        if (kind === 'statement') {
          await pool.query({ name: DELIVERY_SQL.deliver.name, text: DELIVERY_SQL.deliver.text, values: [batch] });
        } else {
          await pool.query({ name: 'bench.floor-insert', text: FLOOR_INSERT, values: [batch] });
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  return (options.messages * options.recipients) / seconds;
}

// The same entries, written without anything else delivery does.
const FLOOR_INSERT = `
  WITH m AS (UPDATE messages SET delivered_at = now() WHERE id = ANY($1::varchar[])
             RETURNING id, sender_xuid, recipients, expiration)
  INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, sender_xuid, sender_gamertag, message_type, summary)
  SELECT r.xuid, m.id, m.expiration, m.sender_xuid, 'Bench', 'User', 'bench message text'
    FROM m CROSS JOIN LATERAL unnest(m.recipients) AS r(xuid)`;

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export const coreCount = (): number => cpus().length;
