/**
 * The benchmark's data: a scratch database, migrated with the built migrator,
 * and filled with SQL. Players, friendships, inbox rows and messages look as
 * the service writes them (ids are ULIDs whose time is `sent`, counters equal
 * the entries). The players each role plays are kept in `bench_roles`, so the
 * peer and the SQL floors load the same ones.
 */
import type { ClientBase } from 'pg';
import { messageIdFactory } from '@app/shared/database/message-id';
import { withClient } from '../../test/setup/postgres-admin';
import { ROOT, runCommand } from './processes';

export const XUID_BASE = 2_533_274_800_000_000n;
const DAY_MS = 86_400_000;
const TTL = `interval '30 days'`;
const BATCH = 20_000;
const BENCH_DATABASE = /^xblmsg_bench[a-z0-9_]*$/;

export interface BenchUser {
  xuid: string;
  gamertag: string;
}

export interface BenchRoles {
  senders: BenchUser[];
  recipients: BenchUser[];
  /** Holds the large inbox that the deep-page phase reads. */
  reader: BenchUser;
  /** Sends the probes of the visible-latency phase... */
  prober: BenchUser;
  /** ...to this player's inbox, which the probes poll. */
  watcher: BenchUser;
}

export interface FillOptions {
  users: number;
  senders: number;
  recipients: number;
  /** Entries in the reader's inbox. */
  inbox: number;
  /** Entries given to each recipient up front, so every first page is full. */
  seedEntries: number;
}

function checkName(database: string): void {
  if (!BENCH_DATABASE.test(database)) throw new Error(`refusing to touch database "${database}": not xblmsg_bench*`);
}

export async function recreateDatabase(adminUrl: string, database: string): Promise<void> {
  checkName(database);
  await withClient(adminUrl, async (client) => {
    await client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`);
    await client.query(`CREATE DATABASE "${database}"`);
  });
}

export async function dropDatabase(adminUrl: string, database: string): Promise<void> {
  checkName(database);
  await withClient(adminUrl, (client) => client.query(`DROP DATABASE IF EXISTS "${database}" WITH (FORCE)`));
}

/** The production migrator from the build: `node dist/scripts/migrate.js`. */
export function migrate(databaseUrl: string): Promise<void> {
  return runCommand(process.execPath, [`${ROOT}/dist/scripts/migrate.js`], {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    LOG_LEVEL: 'warn',
    DATABASE_URL: databaseUrl,
  });
}

/** Sender and recipients of the i-th send of any phase (and of the SQL send floor). */
export function sendAt(roles: BenchRoles, i: number): { sender: BenchUser; recipients: BenchUser[] } {
  const senders = roles.senders.length;
  const recipients = roles.recipients.length;
  const s = i % senders;
  const rotation = Math.floor(i / senders);
  const step = Math.floor(recipients / 5);
  const base = 7 * s + 3 * rotation;
  return {
    sender: roles.senders[s],
    recipients: [0, 1, 2, 3, 4].map((j) => roles.recipients[(base + j * step) % recipients]),
  };
}

/** The send's body as the contract has it: recipients by XUID (JSON strings), a distinct text. */
export function sendBody(recipients: BenchUser[], text: string): string {
  return JSON.stringify({ header: { recipients: recipients.map((user) => ({ xuid: user.xuid })) }, messageText: text });
}

export async function loadRoles(client: ClientBase): Promise<BenchRoles> {
  const { rows } = await client.query<{ role: string; xuid: string; gamertag: string }>(
    `SELECT role, xuid::text AS xuid, gamertag FROM bench_roles ORDER BY role, idx`,
  );
  const of = (role: string) => rows.filter((row) => row.role === role).map(({ xuid, gamertag }) => ({ xuid, gamertag }));
  return {
    senders: of('sender'),
    recipients: of('recipient'),
    reader: of('reader')[0],
    prober: of('prober')[0],
    watcher: of('watcher')[0],
  };
}

/**
 * Messages `n` = first..first+count-1 of a series, sent `spacingMs` apart from
 * `startMs`. Sender n % senders. Recipients: the reader alone, or five
 * recipients rotating with n. `delivered` ones get their inbox entries too,
 * written in random order: the rows of one inbox page then lie on different
 * heap pages, as in an inbox filled over time (a bulk load in id order would
 * make the deep page look cheaper than any real one).
 */
async function insertMessages(
  client: ClientBase,
  options: { startMs: number; spacingMs: number; count: number; text: string; to: 'reader' | 'rotating'; delivered: boolean },
): Promise<string[]> {
  const nextId = messageIdFactory();
  const all: string[] = [];
  for (let first = 0; first < options.count; first += BATCH) {
    const size = Math.min(BATCH, options.count - first);
    const n = Array.from({ length: size }, (_, k) => first + k);
    const sent = n.map((k) => options.startMs + k * options.spacingMs);
    const ids = sent.map((millis) => nextId(millis));
    const recipients =
      options.to === 'reader'
        ? `ARRAY[(SELECT xuid FROM bench_roles WHERE role = 'reader')]`
        : `ARRAY(SELECT r.xuid FROM generate_series(0, 4) AS j(j)
                   JOIN bench_roles r ON r.role = 'recipient' AND r.idx = (src.n + j.j * (c.recipients / 5)) % c.recipients
                  ORDER BY j.j)`;
    const messages = `
      WITH c AS (SELECT count(*) FILTER (WHERE role = 'sender') AS senders,
                        count(*) FILTER (WHERE role = 'recipient') AS recipients FROM bench_roles),
      src AS (SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[]) AS t(id, sent_ms, n)),
      msg AS (
        SELECT src.id, src.n, timestamptz 'epoch' + src.sent_ms * interval '1 millisecond' AS sent,
               s.xuid AS sender_xuid, s.gamertag AS sender_gamertag, $4 || ' ' || src.n AS text, ${recipients} AS recipients
          FROM src CROSS JOIN c JOIN bench_roles s ON s.role = 'sender' AND s.idx = src.n % c.senders
      ), stored AS (
        INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, delivered_at)
        SELECT id, sender_xuid, 'User', text, recipients, sent, sent + ${TTL}, ${options.delivered ? 'sent' : 'NULL'} FROM msg
      )`;
    const entries = `
      INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, is_read, sender_xuid, sender_gamertag, message_type, summary)
      SELECT r.xuid, msg.id, msg.sent + ${TTL}, false, msg.sender_xuid, msg.sender_gamertag, 'User', left(msg.text, 20)
        FROM msg CROSS JOIN unnest(msg.recipients) AS r(xuid)
       ORDER BY random()`;
    await client.query(`${messages} ${options.delivered ? entries : 'SELECT 1'}`, [ids, sent, n, options.text]);
    all.push(...ids);
  }
  return all;
}

/** Fills the directory and the inboxes; returns the roles. */
export async function fill(databaseUrl: string, options: FillOptions, log: (line: string) => void): Promise<BenchRoles> {
  const special = 3; // reader, prober, watcher
  if (options.users < options.senders + options.recipients + special) throw new Error('--users is smaller than the roles need');
  if (options.recipients < 5) throw new Error('--recipients must be at least 5');
  return withClient(databaseUrl, async (client) => {
    const step = async (label: string, work: () => Promise<unknown>) => {
      const started = Date.now();
      await work();
      log(`  ${label} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
    };
    await step(`${options.users.toLocaleString('en-US')} users`, () =>
      client.query(
        `INSERT INTO users (xuid, gamertag, communication)
         SELECT $1::numeric + g, 'B' || g, 'everyone' FROM generate_series(1, $2::int) AS g`,
        [XUID_BASE.toString(), options.users],
      ),
    );
    await step('roles', async () => {
      await client.query(`CREATE TABLE bench_roles (role text NOT NULL, idx int NOT NULL, xuid numeric(20,0) NOT NULL,
                          gamertag text NOT NULL, PRIMARY KEY (role, idx))`);
      await client.query(`SELECT setseed(0.42)`);
      await client.query(
        `WITH picked AS (
           SELECT xuid, gamertag, (row_number() OVER ()) - 1 AS n
             FROM (SELECT xuid, gamertag FROM users ORDER BY random() LIMIT $1::int + $2::int + 3) AS s)
         INSERT INTO bench_roles
         SELECT CASE WHEN n < $1 THEN 'sender' WHEN n < $1 + $2 THEN 'recipient'
                     WHEN n = $1 + $2 THEN 'reader' WHEN n = $1 + $2 + 1 THEN 'prober' ELSE 'watcher' END,
                CASE WHEN n < $1 THEN n WHEN n < $1 + $2 THEN n - $1 ELSE 0 END, xuid, gamertag
           FROM picked`,
        [options.senders, options.recipients],
      );
    });
    await step('friendships', async () => {
      // Everyone has one friend (neighbouring XUIDs), and each sender two of the recipients it writes to.
      await client.query(
        `INSERT INTO friendships (user_xuid, friend_xuid)
         SELECT $1::numeric + g, $1::numeric + g + 1 FROM generate_series(1, $2::int - 1, 2) AS g
         UNION ALL
         SELECT $1::numeric + g + 1, $1::numeric + g FROM generate_series(1, $2::int - 1, 2) AS g`,
        [XUID_BASE.toString(), options.users],
      );
      await client.query(
        `WITH c AS (SELECT count(*) AS recipients FROM bench_roles WHERE role = 'recipient'),
         pairs AS (
           SELECT s.xuid AS a, r.xuid AS b
             FROM bench_roles s CROSS JOIN c CROSS JOIN generate_series(0, 1) AS j(j)
             JOIN bench_roles r ON r.role = 'recipient' AND r.idx = (7 * s.idx + j.j * (c.recipients / 5)) % c.recipients
            WHERE s.role = 'sender')
         INSERT INTO friendships (user_xuid, friend_xuid)
         SELECT a, b FROM pairs UNION SELECT b, a FROM pairs
         ON CONFLICT DO NOTHING`,
      );
    });
    const now = Date.now();
    const seedMessages = Math.ceil((options.recipients * options.seedEntries) / 5);
    await step(`${(seedMessages * 5).toLocaleString('en-US')} entries for the recipients`, () =>
      insertMessages(client, {
        startMs: now - 2 * 3600_000 - seedMessages * 10,
        spacingMs: 10,
        count: seedMessages,
        text: 'seed message',
        to: 'rotating',
        delivered: true,
      }),
    );
    const spacingMs = Math.max(1, Math.floor((20 * DAY_MS) / Math.max(options.inbox, 1)));
    await step(`${options.inbox.toLocaleString('en-US')} entries in the reader's inbox`, () =>
      insertMessages(client, {
        startMs: now - 3 * 3600_000 - options.inbox * spacingMs,
        spacingMs,
        count: options.inbox,
        text: 'inbox message',
        to: 'reader',
        delivered: true,
      }),
    );
    await step('counters, vacuum, checkpoint', async () => {
      await client.query(
        `INSERT INTO inbox_counters (recipient_xuid, total_items, unread_items)
         SELECT recipient_xuid, count(*)::int, (count(*) FILTER (WHERE NOT is_read))::int FROM inbox_entries GROUP BY recipient_xuid`,
      );
      await client.query('VACUUM (ANALYZE)');
      await client.query('CHECKPOINT');
    });
    return loadRoles(client);
  });
}

/** `count` accepted, undelivered messages to rotating recipients (work for the fan-out floors). */
export function insertUndelivered(client: ClientBase, count: number): Promise<string[]> {
  return insertMessages(client, {
    startMs: Date.now(),
    spacingMs: 0,
    count,
    text: 'floor message',
    to: 'rotating',
    delivered: false,
  });
}

/** Undelivered messages (the backlog delivery has not written yet). */
export async function undeliveredCount(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM messages WHERE delivered_at IS NULL`);
  return Number(rows[0].n);
}

/** Every inbox entry, by the counters (a few thousand rows: cheap). */
export async function countedEntries(client: ClientBase): Promise<number> {
  const { rows } = await client.query<{ n: string }>(`SELECT coalesce(sum(total_items), 0) AS n FROM inbox_counters`);
  return Number(rows[0].n);
}
