import { randomInt } from 'node:crypto';
import pg, { Client } from 'pg';
import { Queryable, runMigrations, Statement } from '@app/shared/database';
import { DIRECTORY_SQL } from '@app/shared/directory/directory.repository';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { BROADCAST_SQL } from '../../apps/delivery/src/broadcast.repository';
import { DELIVERY_SQL } from '../../apps/delivery/src/delivery.repository';
import { INBOX_EVENTS_SQL } from '../../apps/gateway/src/inbox/events/inbox-events.repository';
import { SYSTEM_MESSAGES_SQL } from '../../apps/gateway/src/admin/system-messages.repository';
import { INBOX_SQL } from '../../apps/gateway/src/inbox/inbox.repository';
import { IDEMPOTENCY_SQL } from '../../apps/gateway/src/outbox/idempotency.repository';
import { OUTBOX_SQL } from '../../apps/gateway/src/outbox/outbox.repository';
import { dropTestDatabase } from '../setup/global-teardown';
import { withClient, withDatabase } from '../setup/postgres-admin';
import { testDatabaseUrl } from '../setup/test-env';

/**
 * "No query on a request path may scan a table": every reviewed statement is
 * planned against 1,000,000 rows per table (a scratch database of its own,
 * migrated like the run's), both as the custom plan Postgres makes for the
 * given parameters and as the generic plan it may switch to after five
 * executions of a named prepared statement, and its plan must not hold a
 * sequential scan (or a scan of a whole index) of any table.
 */

type AnyStatement = Statement<readonly unknown[], object>;
type PlanMode = 'force_custom_plan' | 'force_generic_plan';

const TABLES = ['users', 'messages', 'inbox_entries', 'friendships', 'blocks', 'inbox_counters', 'idempotency_keys'];
const MODES: PlanMode[] = ['force_custom_plan', 'force_generic_plan'];

// The volume: 1M users (XUIDs BASE + k), friendships (mutual pairs k <-> k xor 1),
// blocks and messages; one inbox entry per delivered message, a fifth of them
// (200k) in the deep reader's inbox and the rest over ~200k inboxes; a counter
// for every user (counters are never deleted); 100k Idempotency-Key records.
// Messages were sent every 2.6 s over the last ~30 days, so ~3,000 have expired
// and wait for the purge, and the newest 100 are not delivered yet.
const BASE = 2_533_274_790_000_000n;
const USERS = 1_000_000;
const MESSAGES = 1_000_000;
const UNDELIVERED = 100;
const SEND_EVERY_MS = 2600;
const SPREAD = 199_999;
const IDEMPOTENCY_KEYS = 100_000;
const DEEP_READER = BASE.toString();
const DEEP_READER_ENTRIES = (MESSAGES - UNDELIVERED) / 5;

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
// The ULID of message g: 10 Crockford characters of its send time `t` in
// milliseconds, then 16 of md5(g) (hex digits are Crockford digits too).
const ULID_OF_T = [45, 40, 35, 30, 25, 20, 15, 10, 5, 0]
  .map((shift) => `substr('${CROCKFORD}', ((t >> ${shift}) & 31)::int + 1, 1)`)
  .concat('upper(substr(md5(g::text), 1, 16))')
  .join(' || ');

const FILL_USERS = `
  INSERT INTO users (xuid, gamertag, communication)
  SELECT ${BASE} + k, 'Gt' || k,
         CASE WHEN k % 10 = 3 THEN 'friends' WHEN k % 50 = 7 THEN 'blocked' ELSE 'everyone' END
    FROM generate_series(0, ${USERS - 1}) AS k`;

const FILL_FRIENDSHIPS = `
  INSERT INTO friendships (user_xuid, friend_xuid)
  SELECT ${BASE} + k, ${BASE} + (k # 1) FROM generate_series(0, ${USERS - 1}) AS k`;

const FILL_BLOCKS = `
  INSERT INTO blocks (owner_xuid, blocked_xuid)
  SELECT ${BASE} + k, ${BASE} + (k + 12345) % ${USERS} FROM generate_series(0, ${USERS - 1}) AS k`;

const FILL_IDEMPOTENCY_KEYS = `
  INSERT INTO idempotency_keys (sender_xuid, key, request_hash, status_code, message_id, created_at, expires_at)
  SELECT ${BASE} + g * 10, 'key-' || md5(g::text), md5(g::text) || md5((-g)::text), 200,
         upper(substr(md5(g::text), 1, 26)), now() - g * interval '872.6 milliseconds',
         now() - g * interval '872.6 milliseconds' + interval '24 hours'
    FROM generate_series(1, ${IDEMPOTENCY_KEYS}) AS g`;

const FILL_MESSAGES = `
  INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, delivered_at)
  SELECT ${ULID_OF_T}, ${BASE} + (g::int8 * 7919) % ${USERS}, 'User', 'message number ' || g || ' ' || md5(g::text),
         ARRAY[CASE WHEN g % 5 = 0 THEN ${BASE} ELSE ${BASE} + 1 + g % ${SPREAD} END],
         to_timestamp(t / 1000.0), to_timestamp(t / 1000.0) + interval '30 days',
         CASE WHEN g <= ${MESSAGES - UNDELIVERED} THEN to_timestamp(t / 1000.0) + interval '100 milliseconds' END
    FROM generate_series(1, ${MESSAGES}) AS g,
         LATERAL (SELECT (extract(epoch FROM now()) * 1000)::int8 - (${MESSAGES} - g)::int8 * ${SEND_EVERY_MS} AS t) AS ts`;

// In send order, as delivery writes them.
const FILL_INBOX_ENTRIES = `
  INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, is_read, sender_xuid, sender_gamertag, message_type, summary, sequence)
  SELECT m.recipients[1], m.id, m.expiration, ascii(right(m.id, 1)) % 3 = 0, m.sender_xuid,
         'Gt' || (m.sender_xuid - ${BASE}), m.message_type, left(m.text, 20),
         row_number() OVER (PARTITION BY m.recipients[1] ORDER BY m.id)
    FROM messages m WHERE m.delivered_at IS NOT NULL`;

const FILL_INBOX_COUNTERS = `
  INSERT INTO inbox_counters (recipient_xuid, total_items, unread_items)
  SELECT ${BASE} + k, coalesce(c.n, 0), coalesce(c.unread, 0)
    FROM generate_series(0, ${USERS - 1}) AS k
    LEFT JOIN (SELECT recipient_xuid, count(*)::int AS n, (count(*) FILTER (WHERE NOT is_read))::int AS unread
                 FROM inbox_entries GROUP BY recipient_xuid) AS c
      ON c.recipient_xuid = ${BASE} + k`;

/** Every constraint and index of the schema, to prove the fill left it exactly as migrated. */
const SCHEMA_SIGNATURE = `
  SELECT c.conrelid::regclass::text || ' ' || c.conname || ' ' || pg_get_constraintdef(c.oid) AS def
    FROM pg_constraint c WHERE c.connamespace = 'public'::regnamespace
  UNION ALL
  SELECT pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
   WHERE t.relnamespace = 'public'::regnamespace
  ORDER BY 1`;

/** Values the statements are planned with, read from the filled database. */
interface Fixtures {
  /** Primary key index name by table. */
  pk: Record<string, string>;
  sender: string;
  xuids: string[];
  gamertags: string[];
  typicalRecipient: string;
  /** The deep reader's 100th newest entry: where page 2 starts. */
  secondPageAfter: string;
  /** 150,000 entries down the deep reader's inbox. */
  deepPageAfter: string;
  readId: string;
  /** 100 ids of the deep reader's inbox, 50,000 entries down, sorted: a full batch. */
  batchIds: string[];
  undeliveredIds: string[];
  expiredIds: string[];
  expiredRecipients: string[];
  expiredCounts: number[];
  idempotency: { senderXuid: string; key: string };
}

interface PlanCase {
  label: string;
  /** The reviewed statement, or how to make the repository hand it over when it is not exported. */
  statement: AnyStatement | ((tx: Queryable) => Promise<unknown>);
  params: (f: Fixtures) => unknown[];
  /** Indexes the plan must use (beyond using no table scan). */
  uses: (f: Fixtures) => string[];
}

const BROADCAST_ID = '01JC8Z9G4W5N7Q2R3S4T5V6W7X';

const CASES: PlanCase[] = [
  {
    label: 'directory.resolve-recipients (5 XUIDs, 4 gamertags)',
    statement: DIRECTORY_SQL.resolveRecipients,
    params: (f) => [f.sender, f.xuids, f.gamertags],
    uses: (f) => [f.pk.users, 'users_gamertag_lower_key', f.pk.friendships],
  },
  {
    label: 'directory.find-user',
    statement: DIRECTORY_SQL.findUser,
    params: (f) => [f.sender],
    uses: (f) => [f.pk.users],
  },
  {
    label: 'outbox.insert-message',
    statement: OUTBOX_SQL.insertMessage,
    params: (f) => [
      `${'Z'.repeat(10)}${'0'.repeat(16)}`,
      f.sender,
      MessageType.User,
      'a new message',
      f.xuids,
      new Date(),
      new Date(Date.now() + 30 * 86_400_000),
      'req-plan-check',
    ],
    uses: () => [],
  },
  {
    label: 'idempotency.claim',
    statement: IDEMPOTENCY_SQL.claim,
    params: (f) => [f.idempotency.senderXuid, f.idempotency.key, 'f'.repeat(64), 86_400],
    uses: () => [],
  },
  {
    label: 'idempotency.find',
    statement: IDEMPOTENCY_SQL.find,
    params: (f) => [f.idempotency.senderXuid, f.idempotency.key],
    uses: (f) => [f.pk.idempotency_keys],
  },
  {
    label: 'idempotency.take-over',
    statement: IDEMPOTENCY_SQL.takeOver,
    params: (f) => [f.idempotency.senderXuid, f.idempotency.key, '2026-01-01 00:00:00+00', 60],
    uses: (f) => [f.pk.idempotency_keys],
  },
  {
    label: 'idempotency.complete',
    statement: IDEMPOTENCY_SQL.complete,
    params: (f) => [f.idempotency.senderXuid, f.idempotency.key, '2026-01-01 00:00:00+00', 'ZZZZZZZZZZ0000000000000000'],
    uses: (f) => [f.pk.idempotency_keys],
  },
  {
    label: 'idempotency.release',
    statement: IDEMPOTENCY_SQL.release,
    params: (f) => [f.idempotency.senderXuid, f.idempotency.key, '2026-01-01 00:00:00+00'],
    uses: (f) => [f.pk.idempotency_keys],
  },
  {
    label: 'idempotency.delete-expired',
    statement: IDEMPOTENCY_SQL.deleteExpired,
    params: (f) => [f.idempotency.senderXuid, f.idempotency.key],
    uses: (f) => [f.pk.idempotency_keys],
  },
  {
    label: 'inbox.first-page (deep reader, 200k entries)',
    statement: INBOX_SQL.firstPage,
    params: () => [DEEP_READER, 100, 0],
    uses: (f) => [f.pk.inbox_entries, 'inbox_entries_recipient_expiration_idx', f.pk.inbox_counters],
  },
  {
    label: 'inbox.first-page (typical inbox, skip 2)',
    statement: INBOX_SQL.firstPage,
    params: (f) => [f.typicalRecipient, 25, 2],
    uses: (f) => [f.pk.inbox_entries, 'inbox_entries_recipient_expiration_idx', f.pk.inbox_counters],
  },
  {
    label: 'inbox.next-page (deep reader, page 2)',
    statement: INBOX_SQL.nextPage,
    params: (f) => [DEEP_READER, 100, f.secondPageAfter],
    uses: (f) => [f.pk.inbox_entries, 'inbox_entries_recipient_expiration_idx', f.pk.inbox_counters],
  },
  {
    label: 'inbox.next-page (deep reader, 150k entries down)',
    statement: INBOX_SQL.nextPage,
    params: (f) => [DEEP_READER, 100, f.deepPageAfter],
    uses: (f) => [f.pk.inbox_entries, 'inbox_entries_recipient_expiration_idx', f.pk.inbox_counters],
  },
  {
    label: 'inbox.read',
    statement: INBOX_SQL.read,
    params: (f) => [DEEP_READER, f.readId],
    uses: (f) => [f.pk.inbox_entries, f.pk.messages],
  },
  {
    label: 'inbox.delete',
    statement: INBOX_SQL.delete,
    params: (f) => [DEEP_READER, f.readId],
    uses: (f) => [f.pk.inbox_entries, f.pk.inbox_counters],
  },
  {
    label: 'inbox.summary (deep reader, 200k entries)',
    statement: INBOX_SQL.summary,
    params: () => [DEEP_READER],
    uses: (f) => ['inbox_entries_recipient_expiration_idx', f.pk.inbox_counters],
  },
  {
    label: 'inbox.exists',
    statement: INBOX_SQL.exists,
    params: (f) => [DEEP_READER, f.readId],
    uses: (f) => [f.pk.inbox_entries],
  },
  {
    label: 'inbox.set-read-state (one id)',
    statement: INBOX_SQL.setReadState,
    params: (f) => [DEEP_READER, [f.readId], true],
    uses: (f) => [f.pk.inbox_entries, f.pk.inbox_counters],
  },
  {
    label: 'inbox.set-read-state (a batch of 100, deep reader)',
    statement: INBOX_SQL.setReadState,
    params: (f) => [DEEP_READER, f.batchIds, false],
    uses: (f) => [f.pk.inbox_entries, f.pk.inbox_counters],
  },
  {
    label: 'inbox.delete-many (a batch of 100, deep reader)',
    statement: INBOX_SQL.deleteMany,
    params: (f) => [DEEP_READER, f.batchIds],
    uses: (f) => [f.pk.inbox_entries, f.pk.inbox_counters],
  },
  {
    label: 'outbox.clock',
    statement: OUTBOX_SQL.clock,
    params: () => [],
    uses: () => [],
  },
  {
    label: 'inbox-events.position (a stream opens)',
    statement: INBOX_EVENTS_SQL.position,
    params: () => [DEEP_READER],
    uses: (f) => [f.pk.inbox_counters],
  },
  {
    label: 'inbox-events.replay (a stream reconnects, deep inbox)',
    statement: INBOX_EVENTS_SQL.replay,
    params: () => [DEEP_READER, 0, 50],
    uses: () => ['inbox_entries_sequence_idx'],
  },
  {
    label: 'delivery.deliver (a batch of 50)',
    statement: DELIVERY_SQL.deliver,
    params: (f) => [f.undeliveredIds],
    uses: (f) => [f.pk.messages, f.pk.users, f.pk.blocks, f.pk.friendships],
  },
  {
    label: 'delivery.undelivered (maintenance, from the head)',
    statement: DELIVERY_SQL.undelivered,
    params: () => [30, new Date(0), '', 1000],
    uses: () => ['messages_undelivered_idx'],
  },
  {
    label: 'delivery.undelivered (maintenance, after a cursor)',
    statement: DELIVERY_SQL.undelivered,
    params: () => [30, new Date(Date.now() - 3600_000), '01J0000000000000000000000', 1000],
    uses: () => ['messages_undelivered_idx'],
  },
  {
    label: 'delivery.lock-expired (maintenance)',
    statement: DELIVERY_SQL.lockExpired,
    params: () => [500],
    uses: () => ['messages_expiration_idx'],
  },
  {
    label: 'delivery.delete-entries (maintenance, 200 messages)',
    statement: DELIVERY_SQL.deleteEntries,
    params: (f) => [f.expiredIds],
    uses: (f) => [f.pk.messages, f.pk.inbox_entries],
  },
  {
    label: 'delivery.lock-counters (maintenance)',
    statement: DELIVERY_SQL.lockCounters,
    params: (f) => [f.expiredRecipients],
    uses: (f) => [f.pk.inbox_counters],
  },
  {
    label: 'delivery.decrement-counters (maintenance)',
    statement: DELIVERY_SQL.decrementCounters,
    params: (f) => [f.expiredRecipients, f.expiredCounts, f.expiredCounts.map(() => 0)],
    uses: (f) => [f.pk.inbox_counters],
  },
  {
    label: 'delivery.delete-messages (maintenance, 200 messages)',
    statement: DELIVERY_SQL.deleteMessages,
    params: (f) => [f.expiredIds],
    uses: (f) => [f.pk.messages],
  },
  {
    label: 'delivery.purge-idempotency-keys (maintenance)',
    statement: DELIVERY_SQL.purgeIdempotencyKeys,
    params: () => [2000],
    uses: () => ['idempotency_keys_expires_at_idx'],
  },
  // Broadcasts: the tables of broadcasts and chunks are small (one row per
  // broadcast, one per 2,000 recipients) and empty here; what matters is
  // that a chunk reads users, inbox entries and counters by primary key.
  {
    label: 'broadcast.write-chunk (a range of 2,000 users)',
    statement: BROADCAST_SQL.writeChunk,
    params: () => [BROADCAST_ID, 0],
    uses: (f) => [f.pk.users],
  },
  { label: 'broadcast.mark-running', statement: BROADCAST_SQL.markRunning, params: () => [BROADCAST_ID], uses: () => [] },
  { label: 'broadcast.finish', statement: BROADCAST_SQL.finish, params: () => [BROADCAST_ID], uses: () => [] },
  {
    label: 'broadcast.pending-chunks (maintenance)',
    statement: BROADCAST_SQL.pendingChunks,
    params: () => [30, 1000],
    uses: () => [],
  },
  { label: 'broadcast.unfinished (maintenance)', statement: BROADCAST_SQL.unfinished, params: () => [30], uses: () => [] },
  {
    label: 'broadcast.purge-chunk (maintenance)',
    statement: BROADCAST_SQL.purgeChunk,
    params: () => [],
    uses: (f) => [f.pk.inbox_entries],
  },
  { label: 'system-messages.find-by-key', statement: SYSTEM_MESSAGES_SQL.findByKey, params: () => ['key-1'], uses: () => [] },
  {
    label: 'system-messages.unknown-xuids (5 XUIDs)',
    statement: SYSTEM_MESSAGES_SQL.unknownXuids,
    params: (f) => [f.xuids],
    uses: (f) => [f.pk.users],
  },
  {
    label: 'system-messages.insert-message',
    statement: SYSTEM_MESSAGES_SQL.insertMessage,
    params: () => [BROADCAST_ID, 'text', 'subject', new Date(), new Date(), 'req-1'],
    uses: () => [],
  },
  {
    label: 'system-messages.insert-broadcast',
    statement: SYSTEM_MESSAGES_SQL.insertBroadcast,
    params: () => [BROADCAST_ID, 'subject', '1', 'LIVE System', 'all', new Date(), 'key-1', null],
    uses: () => [],
  },
  {
    label: 'system-messages.insert-next-range-chunk (2,000 users)',
    statement: SYSTEM_MESSAGES_SQL.insertNextRangeChunk,
    params: (f) => [BROADCAST_ID, 0, f.sender, 2000],
    uses: (f) => [f.pk.users],
  },
  {
    label: 'system-messages.insert-list-chunk',
    statement: SYSTEM_MESSAGES_SQL.insertListChunk,
    params: (f) => [BROADCAST_ID, 0, f.xuids],
    uses: () => [],
  },
  {
    label: 'system-messages.set-totals',
    statement: SYSTEM_MESSAGES_SQL.setTotals,
    params: () => [BROADCAST_ID, 1, 5],
    uses: () => [],
  },
  { label: 'system-messages.status', statement: SYSTEM_MESSAGES_SQL.status, params: () => [BROADCAST_ID], uses: () => [] },
  { label: 'system-messages.cancel', statement: SYSTEM_MESSAGES_SQL.cancel, params: () => [BROADCAST_ID], uses: () => [] },
];

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Index Cond'?: string;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

function nodesOf(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(nodesOf)];
}

/** What reads a whole table: a sequential scan, or an index scan with no condition on the index. */
function tableScans(plan: PlanNode): string[] {
  return nodesOf(plan).flatMap((node) => {
    const table = node['Relation Name'];
    if (table === undefined || !TABLES.includes(table)) return [];
    if (node['Node Type'] === 'Seq Scan') return [`Seq Scan on ${table}`];
    if (/^Index (Only )?Scan$/.test(node['Node Type']) && node['Index Cond'] === undefined) {
      return [`${node['Node Type']} using ${node['Index Name']} on ${table} without an index condition`];
    }
    return [];
  });
}

function indexesUsed(plan: PlanNode): string[] {
  return [...new Set(nodesOf(plan).flatMap((node) => (node['Index Name'] ? [node['Index Name']] : [])))].sort();
}

// The text node-postgres sends for a parameter (arrays as array literals, dates with their offset).
const { prepareValue } = (pg as unknown as { utils: { prepareValue: (value: unknown) => string | null } }).utils;

/** The parameters as EXECUTE arguments: what the driver would send, as quoted literals of unknown type. */
function executeArguments(client: Client, params: unknown[]): string {
  return params
    .map((value) => {
      const text = prepareValue(value);
      return text === null ? 'NULL' : client.escapeLiteral(String(text));
    })
    .join(', ');
}

async function statementOf(source: PlanCase['statement']): Promise<AnyStatement> {
  if (typeof source !== 'function') return source;
  const seen: AnyStatement[] = [];
  const recorder: Queryable = {
    run: (statement) => {
      seen.push(statement);
      return Promise.resolve({ rows: [], rowCount: 0 });
    },
    rows: (statement) => {
      seen.push(statement);
      return Promise.resolve([]);
    },
  };
  await source(recorder);
  if (seen.length !== 1) throw new Error(`expected the call to run one statement, it ran ${seen.length}`);
  return seen[0];
}

describe('query plans at 1,000,000 rows', () => {
  const adminUrl = withDatabase(testDatabaseUrl(), 'postgres');
  // Matches global-setup's name pattern, so its stale-database sweep removes
  // it should this suite be killed; the random digits keep it apart from the
  // run's own database when jest runs this file in the global-setup process.
  const databaseName = `xblmsg_test_${Math.floor(Date.now() / 1000)}_${process.pid}${randomInt(1000, 10000)}`;
  const databaseUrl = withDatabase(testDatabaseUrl(), databaseName);
  let created = false;
  let client: Client;
  let fixtures: Fixtures;
  const statements = new Map<PlanCase, AnyStatement>();
  let schemaBefore: string[];

  beforeAll(async () => {
    await withClient(adminUrl, (admin) => admin.query(`CREATE DATABASE "${databaseName}"`));
    created = true;
    await runMigrations({ DATABASE_URL: databaseUrl, DATABASE_POOL_SIZE: 2 });

    client = new Client({ connectionString: databaseUrl });
    await client.connect();
    schemaBefore = (await client.query<{ def: string }>(SCHEMA_SIGNATURE)).rows.map((row) => row.def);

    await fill(databaseUrl);

    fixtures = await readFixtures(client);
    for (const planCase of CASES) statements.set(planCase, await statementOf(planCase.statement));
  }, 240_000);

  afterAll(async () => {
    await client?.end().catch(() => undefined);
    if (created) await dropTestDatabase(adminUrl, databaseName);
  });

  it('should plan against the promised volume, on the schema exactly as migrated', async () => {
    const { rows } = await client.query<{ relname: string; reltuples: number }>(
      `SELECT relname, reltuples::int8::int AS reltuples FROM pg_class
        WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' AND relname = ANY($1) ORDER BY relname`,
      [TABLES],
    );
    const approx = Object.fromEntries(rows.map((row) => [row.relname, Math.round(row.reltuples / 10_000) * 10_000]));
    expect(approx).toEqual({
      blocks: 1_000_000,
      friendships: 1_000_000,
      idempotency_keys: 100_000,
      inbox_counters: 1_000_000,
      inbox_entries: 1_000_000,
      messages: 1_000_000,
      users: 1_000_000,
    });
    const [deep] = (
      await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM inbox_entries WHERE recipient_xuid = $1`, [DEEP_READER])
    ).rows;
    expect(deep.n).toBe(DEEP_READER_ENTRIES);
    expect((await client.query<{ def: string }>(SCHEMA_SIGNATURE)).rows.map((row) => row.def)).toEqual(schemaBefore);
  });

  it('should check every exported statement', () => {
    const exported = [DIRECTORY_SQL, OUTBOX_SQL, INBOX_SQL, DELIVERY_SQL, BROADCAST_SQL, SYSTEM_MESSAGES_SQL].flatMap((group) =>
      Object.values(group).map((statement: AnyStatement) => statement.name),
    );
    const checked = new Set(CASES.map((planCase) => statements.get(planCase)!.name));
    expect(exported.filter((name) => !checked.has(name))).toEqual([]);
  });

  describe.each(MODES)('under plan_cache_mode = %s', (mode) => {
    test.each(CASES.map((planCase) => [planCase.label, planCase] as const))(
      '%s should read no table whole',
      async (_, planCase) => {
        const statement = statements.get(planCase)!;
        const params = planCase.params(fixtures);
        const { json, text } = await explain(client, statement, params, mode);
        const scans = tableScans(json);
        const missing = planCase.uses(fixtures).filter((index) => !indexesUsed(json).includes(index));
        if (scans.length > 0 || missing.length > 0) {
          throw new Error(
            `${statement.name} under ${mode}: ` +
              [...scans, ...missing.map((index) => `does not use ${index}`)].join('; ') +
              `\n\nPlan:\n${text}\n\nStatement:\n${statement.text}`,
          );
        }
        expect(scans).toEqual([]);
      },
    );
  });
});

/**
 * Plans the statement as the service runs it (a prepared statement, its
 * parameters' types inferred) in a transaction that is rolled back. EXPLAIN
 * without ANALYZE executes nothing, DML included.
 */
async function explain(
  client: Client,
  statement: AnyStatement,
  params: unknown[],
  mode: PlanMode,
): Promise<{ json: PlanNode; text: string }> {
  // A statement without parameters is EXECUTEd without parentheses.
  const args = params.length === 0 ? '' : `(${executeArguments(client, params)})`;
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL plan_cache_mode = ${mode}`);
    await client.query(`PREPARE plan_check AS ${statement.text}`);
    const json = await client.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(`EXPLAIN (FORMAT JSON) EXECUTE plan_check${args}`);
    const text = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE plan_check${args}`);
    return {
      json: json.rows[0]['QUERY PLAN'][0].Plan,
      text: text.rows.map((row) => row['QUERY PLAN']).join('\n'),
    };
  } finally {
    await client.query('ROLLBACK');
    // Prepared statements outlive the transaction.
    await client.query('DEALLOCATE ALL');
  }
}

/**
 * Fills the migrated database on two connections at once (this machine's two
 * cores): the directory on one, messages, entries and counters on the other.
 * Foreign-key triggers are off for the fill (session_replication_role; the
 * rows satisfy the keys by construction), and inbox_entries, whose keys arrive
 * in no index order, gets its indexes built after its rows.
 */
async function fill(databaseUrl: string): Promise<void> {
  const session = async (work: (client: Client) => Promise<void>): Promise<void> => {
    const client = new Client({ connectionString: databaseUrl });
    await client.connect();
    try {
      await client.query(`SET session_replication_role = replica`);
      await client.query(`SET synchronous_commit = off`);
      await client.query(`SET maintenance_work_mem = '256MB'`);
      await work(client);
    } finally {
      await client.end();
    }
  };
  await Promise.all([
    session(async (client) => {
      await client.query(FILL_USERS);
      await client.query(FILL_FRIENDSHIPS);
      await client.query(FILL_BLOCKS);
      await client.query(FILL_IDEMPOTENCY_KEYS);
    }),
    session(async (client) => {
      await client.query(FILL_MESSAGES);
      await withIndexesBuiltAfter(client, 'inbox_entries', async () => {
        await client.query(FILL_INBOX_ENTRIES);
      });
      await client.query(FILL_INBOX_COUNTERS);
    }),
  ]);
  await session((client) => client.query('ANALYZE').then(() => undefined));
}

/** Drops the table's indexes (and key constraints), runs `work`, and recreates them from their own definitions. */
async function withIndexesBuiltAfter(client: Client, table: string, work: () => Promise<void>): Promise<void> {
  const referencing = await client.query(`SELECT conname FROM pg_constraint WHERE confrelid = $1::regclass`, [table]);
  if (referencing.rows.length > 0) throw new Error(`${table} is referenced by foreign keys; its keys cannot be dropped`);
  const constraints = (
    await client.query<{ name: string; def: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS def FROM pg_constraint
        WHERE conrelid = $1::regclass AND contype IN ('p', 'u', 'x')`,
      [table],
    )
  ).rows;
  const indexes = (
    await client.query<{ name: string; def: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
        WHERE i.indrelid = $1::regclass
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid)`,
      [table],
    )
  ).rows;
  for (const constraint of constraints) await client.query(`ALTER TABLE ${table} DROP CONSTRAINT "${constraint.name}"`);
  for (const index of indexes) await client.query(`DROP INDEX ${index.name}`);
  await work();
  for (const constraint of constraints) {
    await client.query(`ALTER TABLE ${table} ADD CONSTRAINT "${constraint.name}" ${constraint.def}`);
  }
  for (const index of indexes) await client.query(index.def);
}

async function readFixtures(client: Client): Promise<Fixtures> {
  const one = async <T>(sql: string, params: unknown[] = []): Promise<T> => (await client.query(sql, params)).rows[0] as T;
  const pk = Object.fromEntries(
    (
      await client.query<{ table: string; index: string }>(
        `SELECT conrelid::regclass::text AS table, conindid::regclass::text AS index FROM pg_constraint
          WHERE contype = 'p' AND connamespace = 'public'::regnamespace`,
      )
    ).rows.map((row) => [row.table, row.index.replace(/^"(.*)"$/, '$1')]),
  );
  const xuid = (k: number): string => (BASE + BigInt(k)).toString();
  const entryAt = async (offset: number): Promise<string> =>
    (
      await one<{ message_id: string }>(
        `SELECT message_id FROM inbox_entries WHERE recipient_xuid = $1 AND expiration > now()
          ORDER BY message_id DESC OFFSET $2 LIMIT 1`,
        [DEEP_READER, offset],
      )
    ).message_id;
  const undelivered = await client.query<{ id: string }>(
    `SELECT id FROM messages WHERE delivered_at IS NULL ORDER BY id LIMIT 50`,
  );
  const expired = await client.query<{ id: string; recipients: string[] }>(
    `SELECT id, recipients::text[] AS recipients FROM messages WHERE expiration <= now() ORDER BY expiration LIMIT 200`,
  );
  const perRecipient = new Map<string, number>();
  for (const row of expired.rows) {
    for (const recipient of row.recipients) perRecipient.set(recipient, (perRecipient.get(recipient) ?? 0) + 1);
  }
  const recipients = [...perRecipient.keys()].sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
  const idempotency = await one<{ sender_xuid: string; key: string }>(
    `SELECT sender_xuid, key FROM idempotency_keys WHERE sender_xuid = $1`,
    [xuid(12_340)],
  );
  if (undelivered.rows.length !== 50 || expired.rows.length !== 200 || !idempotency) {
    throw new Error('the fill does not hold the rows the plan checks need');
  }
  return {
    pk,
    sender: xuid(424_242),
    xuids: [1001, 2002, 3003, 4004, 5005].map(xuid),
    gamertags: ['gt777', 'GT778', 'Gt779', 'NoSuchGamertag'],
    typicalRecipient: xuid(1 + 4242),
    secondPageAfter: await entryAt(99),
    deepPageAfter: await entryAt(150_000),
    readId: await entryAt(0),
    batchIds: (
      await client.query<{ message_id: string }>(
        `SELECT message_id FROM inbox_entries WHERE recipient_xuid = $1 AND message_id <= $2
          ORDER BY message_id DESC LIMIT 100`,
        [DEEP_READER, await entryAt(50_000)],
      )
    ).rows
      .map((row) => row.message_id)
      .sort(),
    undeliveredIds: undelivered.rows.map((row) => row.id),
    expiredIds: expired.rows.map((row) => row.id),
    expiredRecipients: recipients,
    expiredCounts: recipients.map((recipient) => perRecipient.get(recipient)!),
    idempotency: { senderXuid: idempotency.sender_xuid, key: idempotency.key },
  };
}
