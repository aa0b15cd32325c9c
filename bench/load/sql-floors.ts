/**
 * SQL floors: the service's own statements (imported from its source, run
 * prepared under their names as the service runs them) looped through
 * node-postgres, with no HTTP, framework, auth or queue around them. Runs as
 * its own process (forked by main.ts; one request per IPC message).
 *
 * - send:        DIRECTORY_SQL.resolveRecipients then OUTBOX_SQL.insertMessage, per send;
 * - first-page:  INBOX_SQL.firstPage [recipient, 26, 0] (maxItems 25 plus the look-ahead row);
 * - next-page:   INBOX_SQL.nextPage [reader, 26, afterId] deep inside the reader's inbox;
 * - fanout-one:  one message per transaction, hand-written: 5 inbox_entries, 5 counters, delivered mark;
 * - fanout-batch: DELIVERY_SQL.deliver on sorted batches, as the delivery worker writes them.
 */
import { performance } from 'node:perf_hooks';
import { GENERIC_PLANS } from '@app/shared/database/database.options';
import { Pool, PoolClient, QueryConfig } from 'pg';
import { messageIdFactory, sentOfMessageId } from '@app/shared/database/message-id';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { DIRECTORY_SQL } from '@app/shared/directory/directory.repository';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';
import { INBOX_SQL } from '../../apps/gateway/src/inbox/inbox.repository';
import { OUTBOX_SQL } from '../../apps/gateway/src/outbox/outbox.repository';
import { loadRoles, sendAt } from './fill';
import { Latencies, Measurement, measurement } from './report';

/** What a floor runs. */
export type FloorWork =
  | { kind: 'send' }
  | { kind: 'first-page'; recipients: string[] }
  | { kind: 'next-page'; reader: string; afterIds: string[] }
  | { kind: 'fanout-one'; messageIds: string[] }
  | { kind: 'fanout-batch'; messageIds: string[]; batchSize: number };

/** How it runs. */
export interface FloorRun {
  label: string;
  databaseUrl: string;
  /** Connections in the pool. */
  pool: number;
  /** Loops running at once over the pool. */
  concurrency: number;
  seconds: number;
  /** Not counted; the fan-out floors have none (their work is a fixed list). */
  warmupSeconds: number;
  ttlSeconds: number;
}

export type FloorSpec = FloorRun & FloorWork;

const prepared = (statement: { name: string; text: string }, values: unknown[]): QueryConfig => ({
  name: statement.name,
  text: statement.text,
  values,
});

/** The floor's own statement: one message delivered to its recipients, no privacy checks, no reads. */
const FANOUT_ONE = {
  entries: {
    name: 'floor.fanout-entries',
    text: `INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, sender_xuid, sender_gamertag, message_type, summary)
           SELECT r.xuid, $1, $2, $3, $4, 'User', $5 FROM unnest($6::numeric[]) AS r(xuid)`,
  },
  counters: {
    name: 'floor.fanout-counters',
    text: `INSERT INTO inbox_counters AS c (recipient_xuid, total_items)
           SELECT r.xuid, 1 FROM unnest($1::numeric[]) AS r(xuid) ORDER BY r.xuid
           ON CONFLICT (recipient_xuid) DO UPDATE SET total_items = c.total_items + 1`,
  },
  mark: { name: 'floor.fanout-mark', text: `UPDATE messages SET delivered_at = now() WHERE id = $1` },
};

interface Tally {
  /** Operations done (statements, sends, transactions). */
  operations: number;
  /** What they carried (messages of a batch; 1 otherwise). */
  units: number;
  errors: number;
}

/**
 * Runs `operation(i)` from `concurrency` loops until the deadline, or until it
 * returns null (no work left); it returns the units it did. The first
 * `warmupSeconds` are not counted.
 */
async function loop(
  spec: FloorRun,
  operation: (i: number) => Promise<number | null>,
): Promise<Tally & { seconds: number; latencies: Latencies }> {
  let next = 0;
  const run = async (until: number, count: boolean, tally: Tally, latencies: Latencies) => {
    while (performance.now() < until) {
      const started = performance.now();
      let units: number | null;
      try {
        units = await operation(next++);
      } catch (error) {
        tally.errors++;
        if (tally.errors === 1) process.stderr.write(`floor ${spec.label}: ${(error as Error).message}\n`);
        continue;
      }
      if (units === null) return;
      if (count) {
        latencies.record(performance.now() - started);
        tally.operations++;
        tally.units += units;
      }
    }
  };
  const all = (seconds: number, count: boolean, latencies: Latencies) => {
    const tally: Tally = { operations: 0, units: 0, errors: 0 };
    const until = performance.now() + seconds * 1000;
    const started = performance.now();
    return Promise.all(Array.from({ length: spec.concurrency }, () => run(until, count, tally, latencies))).then(() => ({
      ...tally,
      seconds: (performance.now() - started) / 1000,
    }));
  };
  if (spec.warmupSeconds > 0) await all(spec.warmupSeconds, false, new Latencies());
  const latencies = new Latencies();
  return { ...(await all(spec.seconds, true, latencies)), latencies };
}

async function inTransaction(pool: Pool, work: (client: PoolClient) => Promise<void>): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await work(client);
    await client.query('COMMIT');
    client.release();
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    client.release(true);
    throw error;
  }
}

// Kept open between floors, so their backends live through the CPU samples around each floor.
const pools = new Map<string, Pool>();

function poolFor(spec: FloorRun): Pool {
  const key = `${spec.databaseUrl} ${spec.pool}`;
  let pool = pools.get(key);
  if (pool === undefined) {
    // Connections set up as the services set theirs up (generic plans for prepared statements).
    pool = new Pool({ connectionString: spec.databaseUrl, max: spec.pool, idleTimeoutMillis: 0, options: GENERIC_PLANS });
    pools.set(key, pool);
  }
  return pool;
}

export async function runFloor(spec: FloorSpec): Promise<Measurement> {
  const pool = poolFor(spec);
  switch (spec.kind) {
    case 'send': {
      const roles = await withOne(pool, loadRoles);
      const nextId = messageIdFactory();
      const result = await loop(spec, async (i) => {
        const { sender, recipients } = sendAt(roles, i);
        const xuids = recipients.map((user) => user.xuid);
        await pool.query(prepared(DIRECTORY_SQL.resolveRecipients, [sender.xuid, [...xuids, sender.xuid], []]));
        const id = nextId();
        const sent = new Date(sentOfMessageId(id));
        await pool.query(
          prepared(OUTBOX_SQL.insertMessage, [
            id,
            sender.xuid,
            MessageType.User,
            `floor send ${i}`,
            xuids,
            sent,
            new Date(sent.getTime() + spec.ttlSeconds * 1000),
            `floor-${i}`,
          ]),
        );
        return 1;
      });
      return measurement(spec.label, result.operations, result.seconds, result.latencies, result.errors);
    }
    case 'first-page':
    case 'next-page': {
      const result = await loop(spec, async (i) => {
        const params =
          spec.kind === 'first-page'
            ? [spec.recipients[i % spec.recipients.length], 26, 0]
            : [spec.reader, 26, spec.afterIds[i % spec.afterIds.length]];
        const { rows } = await pool.query(
          prepared(spec.kind === 'first-page' ? INBOX_SQL.firstPage : INBOX_SQL.nextPage, params),
        );
        if (rows.length !== 26) throw new Error(`a page of ${rows.length} rows, expected 26`);
        return 1;
      });
      return measurement(spec.label, result.operations, result.seconds, result.latencies, result.errors);
    }
    case 'fanout-one': {
      const { rows: messages } = await pool.query<{
        id: string;
        expiration: Date;
        sender_xuid: string;
        gamertag: string;
        summary: string;
        recipients: string[];
      }>(
        `SELECT m.id, m.expiration, m.sender_xuid, u.gamertag, left(m.text, 20) AS summary, m.recipients::text[] AS recipients
           FROM messages m JOIN users u ON u.xuid = m.sender_xuid WHERE m.id = ANY($1::varchar[]) ORDER BY m.id`,
        [spec.messageIds],
      );
      let entries = 0;
      const result = await loop({ ...spec, warmupSeconds: 0 }, async (i) => {
        const m = messages[i];
        if (m === undefined) return null;
        await inTransaction(pool, async (client) => {
          await client.query(
            prepared(FANOUT_ONE.entries, [m.id, m.expiration, m.sender_xuid, m.gamertag, m.summary, m.recipients]),
          );
          await client.query(prepared(FANOUT_ONE.counters, [m.recipients]));
          await client.query(prepared(FANOUT_ONE.mark, [m.id]));
        });
        entries += m.recipients.length;
        return 1;
      });
      return measurement(spec.label, result.units, result.seconds, result.latencies, result.errors, {
        entries,
        'entries/s': entries / result.seconds,
      });
    }
    case 'fanout-batch': {
      const batches: string[][] = [];
      for (let first = 0; first < spec.messageIds.length; first += spec.batchSize) {
        batches.push(spec.messageIds.slice(first, first + spec.batchSize).sort());
      }
      let entries = 0;
      const result = await loop({ ...spec, warmupSeconds: 0 }, async (i) => {
        const batch = batches[i];
        if (batch === undefined) return null;
        const { rows } = await pool.query<{ written: number }>(prepared(DELIVERY_SQL.deliver, [batch]));
        entries += rows.reduce((sum, row) => sum + row.written, 0);
        return batch.length;
      });
      return measurement(spec.label, result.units, result.seconds, result.latencies, result.errors, {
        batches: result.operations,
        entries,
        'entries/s': entries / result.seconds,
      });
    }
  }
}

async function withOne<T>(pool: Pool, work: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    return await work(client);
  } finally {
    client.release();
  }
}

if (require.main === module) {
  process.on('message', (spec: FloorSpec) => {
    runFloor(spec).then(
      (value) => process.send?.({ ok: true, value }),
      (error: unknown) =>
        process.send?.({ ok: false, error: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
    );
  });
  process.on('disconnect', () => process.exit(0));
}
