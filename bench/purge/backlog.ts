/**
 * The purge benchmark's backlog: already-expired messages, each with five
 * inbox entries and the counters moved by them, written with set-based SQL
 * (generate_series, INSERT ... SELECT) into the database bench/load's fill
 * made. Rows look as the service writes them: ids are ULIDs whose time is
 * `sent`, `delivered_at` is set, each entry carries its message's expiration.
 * Message g (0-based) is sent at `sentBaseMs + g` ms and expires an hour later,
 * so the purge (oldest expiration first) takes them in g order, and the
 * oldest expired message left tells how far it got.
 */
import type { ClientBase } from 'pg';
import { sentOfMessageId } from '@app/shared/database/message-id';
import { XUID_BASE } from '../load/fill';

const CROCKFORD = `'0123456789ABCDEFGHJKMNPQRSTVWXYZ'`;
const ULID = /^[0-7][0-9A-HJKMNP-TV-Z]{25}$/;
export const RECIPIENTS_PER_MESSAGE = 5;
const TTL_MS = 3_600_000;
const CHUNK = 100_000;

// A ULID from `ms` (int8, milliseconds): 10 characters of time, 16 of randomness (80 bits).
const ULID_SQL = [
  ...Array.from({ length: 10 }, (_, k) => `substr(${CROCKFORD}, ((ms >> ${5 * (9 - k)}) & 31)::int + 1, 1)`),
  ...Array.from({ length: 16 }, () => `substr(${CROCKFORD}, floor(random() * 32)::int + 1, 1)`),
].join(' || ');

export interface Backlog {
  messages: number;
  entries: number;
  /** Send time of message 0; message g is sent `g` ms later. */
  sentBaseMs: number;
  ttlMs: number;
  /** Wall time of each step, ms. */
  timings: Record<string, number>;
}

/**
 * `count` messages sent two days ago and expired an hour later, from and to
 * players spread over the whole directory (a hash of g; five distinct
 * recipients a message), delivered at once, in chunks of 100,000 messages.
 */
export async function insertExpired(
  client: ClientBase,
  options: { count: number; users: number },
  log: (line: string) => void,
): Promise<Backlog> {
  const sentBaseMs = Date.now() - 2 * 86_400_000 - options.count;
  const step = Math.floor(options.users / RECIPIENTS_PER_MESSAGE);
  const timings: Record<string, number> = {};
  const timed = async (label: string, work: () => Promise<unknown>): Promise<void> => {
    const started = Date.now();
    await work();
    timings[label] = Date.now() - started;
  };
  const base = XUID_BASE.toString();
  await timed('messages and entries', async () => {
    for (let from = 0; from < options.count; from += CHUNK) {
      const to = Math.min(options.count, from + CHUNK) - 1;
      await client.query(
        `WITH src AS (
           SELECT g, $3::int8 + g AS ms,
                  $4::numeric + 1 + ((hashint8(-g) & 2147483647)::int8 % $5::int8) AS sender_xuid,
                  ARRAY(SELECT $4::numeric + 1 + (((hashint8(g) & 2147483647)::int8 + j * $6::int8) % $5::int8)
                          FROM generate_series(0, ${RECIPIENTS_PER_MESSAGE - 1}) AS j ORDER BY j) AS recipients
             FROM generate_series($1::int8, $2::int8) AS g
         ), msg AS (
           INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, delivered_at)
           SELECT ${ULID_SQL}, sender_xuid, 'User', 'expired message ' || g, recipients, sent,
                  sent + $7::int8 * interval '1 millisecond', sent + interval '20 milliseconds'
             FROM (SELECT *, timestamptz 'epoch' + ms * interval '1 millisecond' AS sent FROM src) AS s
           RETURNING id, sender_xuid, recipients, expiration, text
         )
         INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, is_read, sender_xuid, sender_gamertag, message_type, summary)
         SELECT r.xuid, msg.id, msg.expiration, false, msg.sender_xuid, 'B' || (msg.sender_xuid - $4::numeric), 'User', left(msg.text, 20)
           FROM msg CROSS JOIN unnest(msg.recipients) AS r(xuid)`,
        [from, to, sentBaseMs, base, options.users, step, TTL_MS],
      );
      if (options.count > CHUNK) log(`    ${(to + 1).toLocaleString('en-US')} messages`);
    }
  });
  await timed('counters', () =>
    client.query(
      `INSERT INTO inbox_counters AS c (recipient_xuid, total_items, unread_items)
       SELECT recipient_xuid, count(*)::int, (count(*) FILTER (WHERE NOT is_read))::int
         FROM inbox_entries WHERE expiration <= now() GROUP BY recipient_xuid
       ON CONFLICT (recipient_xuid) DO UPDATE
          SET total_items = c.total_items + EXCLUDED.total_items, unread_items = c.unread_items + EXCLUDED.unread_items`,
    ),
  );
  // What autovacuum would have done in the month the rows lived; the checkpoint keeps the fill's writes out of the run.
  await timed('vacuum, checkpoint', async () => {
    await client.query('VACUUM (ANALYZE) messages, inbox_entries, inbox_counters');
    await client.query('CHECKPOINT');
  });
  const {
    rows: [counted],
  } = await client.query<{ messages: string; entries: string }>(
    `SELECT (SELECT count(*) FROM messages WHERE expiration <= now()) AS messages,
            (SELECT count(*) FROM inbox_entries WHERE expiration <= now()) AS entries`,
  );
  const backlog = { messages: Number(counted.messages), entries: Number(counted.entries), sentBaseMs, ttlMs: TTL_MS, timings };
  if (backlog.messages !== options.count || backlog.entries !== options.count * RECIPIENTS_PER_MESSAGE) {
    throw new Error(
      `backlog: ${backlog.messages} expired messages and ${backlog.entries} entries, expected ${options.count} and ${options.count * RECIPIENTS_PER_MESSAGE}`,
    );
  }
  await checkIds(client);
  return backlog;
}

/** A sample of the backlog's ids: well-formed ULIDs whose time is the message's `sent`. */
async function checkIds(client: ClientBase): Promise<void> {
  const { rows } = await client.query<{ id: string; sent_ms: string }>(
    `SELECT id, (extract(epoch FROM sent) * 1000)::int8 AS sent_ms FROM messages TABLESAMPLE SYSTEM (1)
      WHERE expiration <= now() LIMIT 1000`,
  );
  for (const row of rows) {
    if (!ULID.test(row.id) || sentOfMessageId(row.id) !== Number(row.sent_ms)) {
      throw new Error(`backlog: id ${row.id} is not a ULID of its sent time ${row.sent_ms}`);
    }
  }
}

/**
 * Expired messages left, from the oldest one's expiration (message g expires
 * at sentBaseMs + g + ttl): one step of messages_expiration_idx instead of a
 * count over the backlog. 0 when none is left.
 */
export async function remainingExpired(client: ClientBase, backlog: Backlog): Promise<number> {
  const { rows } = await client.query<{ ms: string }>(
    `SELECT (extract(epoch FROM expiration) * 1000)::int8 AS ms FROM messages
      WHERE expiration <= now() ORDER BY expiration LIMIT 1`,
  );
  if (rows.length === 0) return 0;
  const g = Number(rows[0].ms) - backlog.sentBaseMs - backlog.ttlMs;
  return Math.max(1, backlog.messages - g);
}

export interface Checks {
  counted: number;
  entries: number;
  /** Inboxes whose counter differs from their entries (a missing counter counts as 0). */
  mismatched: number;
  negative: number;
  expiredMessages: number;
  expiredEntries: number;
  /** Entries whose message is gone. */
  orphanEntries: number;
  /** Messages sent during the run (the load's and the probes'). */
  sentMessages: number;
  undelivered: number;
  /** Entries of the run's messages. */
  sentEntries: number;
}

export async function runChecks(client: ClientBase, runStartedAt: Date): Promise<Checks> {
  const {
    rows: [row],
  } = await client.query<Record<keyof Checks, string>>(
    `WITH e AS (SELECT recipient_xuid, count(*) AS n FROM inbox_entries GROUP BY recipient_xuid),
          run AS (SELECT id, delivered_at FROM messages WHERE sent >= $1)
     SELECT (SELECT coalesce(sum(total_items), 0) FROM inbox_counters) AS counted,
            (SELECT coalesce(sum(n), 0) FROM e) AS entries,
            (SELECT count(*) FROM inbox_counters c FULL JOIN e USING (recipient_xuid)
              WHERE coalesce(c.total_items, 0) <> coalesce(e.n, 0)) AS mismatched,
            (SELECT count(*) FROM inbox_counters WHERE total_items < 0) AS negative,
            (SELECT count(*) FROM messages WHERE expiration <= now()) AS "expiredMessages",
            (SELECT count(*) FROM inbox_entries WHERE expiration <= now()) AS "expiredEntries",
            (SELECT count(*) FROM inbox_entries x WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.id = x.message_id)) AS "orphanEntries",
            (SELECT count(*) FROM run) AS "sentMessages",
            (SELECT count(*) FROM run WHERE delivered_at IS NULL) AS undelivered,
            (SELECT count(*) FROM inbox_entries x JOIN run ON run.id = x.message_id) AS "sentEntries"`,
    [runStartedAt],
  );
  return Object.fromEntries(Object.entries(row).map(([key, value]) => [key, Number(value)])) as unknown as Checks;
}
