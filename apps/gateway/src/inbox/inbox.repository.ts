import { Injectable } from '@nestjs/common';
import { Database, ReadDatabase, statement } from '@app/shared/database';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';

/** One inbox entry as a listing shows it. Its sent time is its id's (`sentOfMessageId`). */
export interface InboxListEntry {
  messageId: string;
  /** Milliseconds since the epoch, as decimal digits. */
  expirationMillis: string;
  isRead: boolean;
  senderXuid: Xuid;
  sender: string;
  messageType: MessageType;
  summary: string;
}

/** One inbox entry with its message's full text. */
export interface InboxMessage {
  messageId: string;
  expirationMillis: string;
  senderXuid: Xuid;
  sender: string;
  messageType: MessageType;
  text: string;
  /** Whether this read marked it read (it was unread): the change other devices' streams hear of. */
  markedRead: boolean;
}

export interface PageQuery {
  /** Start strictly after (older than) this message id; when absent, start at the newest. */
  afterId?: string;
  /** Entries to pass over first (only without `afterId`; at most 100, so a short OFFSET). */
  skip: number;
  limit: number;
}

/** The inbox's counts, exact now: unexpired entries, and the unread among them. */
export interface InboxSummary {
  totalItems: number;
  unreadItems: number;
}

/** What a batch call asks for (docs/api.md, Act on many messages). */
export type BatchAction = 'delete' | 'markRead' | 'markUnread';

// A page row, or the one row of an empty page (all entry columns null).
type PageRow = { [K in keyof InboxListEntry]: InboxListEntry[K] | null } & { totalItems: number };

// Unexpired entries = the maintained counter minus entries that expired but
// are not purged yet: a bounded range of inbox_entries_recipient_expiration_idx,
// never a count over the whole inbox.
const TOTAL_ITEMS = `
  greatest(
    coalesce((SELECT c.total_items FROM inbox_counters c WHERE c.recipient_xuid = $1), 0)
    - (SELECT count(*) FROM inbox_entries x WHERE x.recipient_xuid = $1 AND x.expiration <= now()),
    0)::int`;

// Both counts, the same way: the counters minus the expired-but-not-purged
// entries, counted over the same bounded range (the unread among them need a
// look at each of those rows, still only the expired ones).
const SUMMARY = `
  SELECT greatest(coalesce(c.total_items, 0) - x.expired, 0)::int AS "totalItems",
         greatest(coalesce(c.unread_items, 0) - x.expired_unread, 0)::int AS "unreadItems"
    FROM (SELECT count(*) AS expired, count(*) FILTER (WHERE NOT x.is_read) AS expired_unread
            FROM inbox_entries x WHERE x.recipient_xuid = $1::numeric AND x.expiration <= now()) AS x
    LEFT JOIN inbox_counters c ON c.recipient_xuid = $1::numeric`;

// The named entries of one inbox are joined to the ids one by one, each a
// primary-key lookup (both key columns equal: at most one row), which is the
// plan even a generic plan picks (the services run with
// plan_cache_mode=force_generic_plan). A plain `message_id = ANY($2)` let a
// generic plan scan the whole inbox by another index on recipient_xuid, since
// it cannot know how deep the inbox is. Not by row address (ctid): a row
// updated meanwhile by another call has a new address, so the recheck after
// the lock wait would skip it and the change would be silently lost; the key
// columns never change, so the join's recheck finds the row's new version.
const NAMED_IDS = `unnest($2::varchar[]) AS q(id)`;

// Flips is_read of the unexpired entries named (only those not already in that
// state, so a repeat writes nothing) and moves the unread counter by as many,
// in one statement. $3 is the new is_read.
const READ_STATE = statement<[recipient: Xuid, messageIds: readonly string[], isRead: boolean], { messageId: string }>(
  'inbox.set-read-state',
  `WITH changed AS (
       UPDATE inbox_entries e SET is_read = $3::boolean
         FROM ${NAMED_IDS}
        WHERE e.recipient_xuid = $1::numeric AND e.message_id = q.id
          AND e.expiration > now() AND e.is_read <> $3::boolean
       RETURNING e.message_id
     ), counted AS (
       UPDATE inbox_counters c
          SET unread_items = c.unread_items + CASE WHEN $3::boolean THEN -n.n ELSE n.n END
         FROM (SELECT count(*)::int AS n FROM changed) AS n
        WHERE c.recipient_xuid = $1::numeric AND n.n > 0
     )
     SELECT message_id AS "messageId" FROM changed ORDER BY message_id`,
);

export const LIST_COLUMNS = `
  e.message_id AS "messageId",
  floor(extract(epoch FROM e.expiration) * 1000)::int8 AS "expirationMillis",
  e.is_read AS "isRead",
  e.sender_xuid AS "senderXuid",
  e.sender_gamertag AS "sender",
  e.message_type AS "messageType",
  e.summary`;

// One round trip whatever the page: the total, left-joined to the page, so an
// empty page is one row of nulls. The page is a backward range scan of the
// primary key (recipient_xuid, message_id), which is newest first because ids
// sort by send time: no sort, and only `limit` rows read past the start (plus
// at most 100 skipped on a first page).
const pageStatement = (name: string, after: string, tail: string) =>
  statement<[recipient: Xuid, limit: number, startAt: number | string], PageRow>(
    name,
    `SELECT ${TOTAL_ITEMS} AS "totalItems", p.*
       FROM (SELECT 1) AS one
       LEFT JOIN LATERAL (
         SELECT ${LIST_COLUMNS}
           FROM inbox_entries e
          WHERE e.recipient_xuid = $1::numeric AND e.expiration > now() ${after}
          ORDER BY e.message_id DESC
          LIMIT $2 ${tail}
       ) AS p ON true`,
  );

/** The statements, for plan checks and the load benchmark's SQL floors. */
export const INBOX_SQL = {
  firstPage: pageStatement('inbox.first-page', '', 'OFFSET $3'),
  nextPage: pageStatement('inbox.next-page', 'AND e.message_id < $3::varchar', ''),
  // Reads the message and marks it read in one statement; an entry already
  // read is not rewritten, so reading it again costs no write.
  read: statement<[recipient: Xuid, messageId: string], InboxMessage & { markedRead: boolean }>(
    'inbox.read',
    `WITH entry AS (
       SELECT e.message_id AS "messageId",
              floor(extract(epoch FROM e.expiration) * 1000)::int8 AS "expirationMillis",
              e.sender_xuid AS "senderXuid",
              e.sender_gamertag AS "sender",
              e.message_type AS "messageType",
              m.text
         FROM inbox_entries e
         JOIN messages m ON m.id = e.message_id
        WHERE e.recipient_xuid = $1::numeric AND e.message_id = $2::varchar AND e.expiration > now()
     ), marked AS (
       UPDATE inbox_entries SET is_read = true
        WHERE recipient_xuid = $1::numeric AND message_id = $2::varchar AND expiration > now() AND NOT is_read
       RETURNING recipient_xuid
     ), counted AS (
       UPDATE inbox_counters c SET unread_items = c.unread_items - 1
         FROM marked m WHERE c.recipient_xuid = m.recipient_xuid
     )
     SELECT entry.*, EXISTS (SELECT 1 FROM marked) AS "markedRead" FROM entry`,
  ),
  // One statement, so one transaction: the counters drop only when a row went.
  delete: statement<[recipient: Xuid, messageId: string], { messageId: string }>(
    'inbox.delete',
    `WITH deleted AS (
       DELETE FROM inbox_entries WHERE recipient_xuid = $1::numeric AND message_id = $2::varchar
       RETURNING recipient_xuid, message_id, is_read
     ), counted AS (
       UPDATE inbox_counters c SET total_items = c.total_items - 1, unread_items = c.unread_items - (NOT d.is_read)::int
         FROM deleted d
        WHERE c.recipient_xuid = d.recipient_xuid
     )
     SELECT message_id AS "messageId" FROM deleted`,
  ),
  summary: statement<[recipient: Xuid], InboxSummary>('inbox.summary', SUMMARY),
  // Whether this inbox has the unexpired entry: the answer of a read-state change that changed nothing.
  exists: statement<[recipient: Xuid, messageId: string], { found: boolean }>(
    'inbox.exists',
    `SELECT EXISTS (
       SELECT 1 FROM inbox_entries
        WHERE recipient_xuid = $1::numeric AND message_id = $2::varchar AND expiration > now()) AS found`,
  ),
  setReadState: READ_STATE,
  // Up to 100 entries of one inbox, expired ones too (as a single delete), and both counters by as many.
  deleteMany: statement<[recipient: Xuid, messageIds: readonly string[]], { messageId: string }>(
    'inbox.delete-many',
    `WITH deleted AS (
       DELETE FROM inbox_entries e USING ${NAMED_IDS}
        WHERE e.recipient_xuid = $1::numeric AND e.message_id = q.id
       RETURNING e.message_id, e.is_read
     ), counted AS (
       UPDATE inbox_counters c SET total_items = c.total_items - n.total, unread_items = c.unread_items - n.unread
         FROM (SELECT count(*)::int AS total, (count(*) FILTER (WHERE NOT is_read))::int AS unread FROM deleted) AS n
        WHERE c.recipient_xuid = $1::numeric AND n.total > 0
     )
     SELECT message_id AS "messageId" FROM deleted ORDER BY message_id`,
  ),
} as const;

@Injectable()
export class InboxRepository {
  constructor(
    private readonly database: Database,
    /** Listings only: the replica while it keeps up (a just-delivered message may show a moment later). */
    private readonly reads: ReadDatabase,
  ) {}

  /** Unexpired entries, newest first (by message id), with the inbox's unexpired total. */
  async listPage(recipient: Xuid, query: PageQuery): Promise<{ entries: InboxListEntry[]; totalItems: number }> {
    const rows = query.afterId
      ? await this.reads.rows(INBOX_SQL.nextPage, [recipient, query.limit, query.afterId])
      : await this.reads.rows(INBOX_SQL.firstPage, [recipient, query.limit, query.skip]);
    const totalItems = rows[0].totalItems;
    if (rows[0].messageId === null) return { entries: [], totalItems };
    return { entries: rows as InboxListEntry[], totalItems };
  }

  /**
   * The unexpired message, marked read (`markedRead`: this call marked it, it
   * was unread); null when this inbox has no such entry.
   */
  async readMessage(recipient: Xuid, messageId: string): Promise<(InboxMessage & { markedRead: boolean }) | null> {
    const [message] = await this.database.rows(INBOX_SQL.read, [recipient, messageId]);
    return message ?? null;
  }

  /** Removes the entry if present (expired or not) and keeps the counters in step; whether it was there. */
  async deleteEntry(recipient: Xuid, messageId: string): Promise<boolean> {
    return (await this.database.rows(INBOX_SQL.delete, [recipient, messageId])).length > 0;
  }

  /** The inbox's counts; like a listing, from the read replica while it is current (DATABASE_READ_URL). */
  summary(recipient: Xuid): Promise<InboxSummary> {
    return this.reads.rows(INBOX_SQL.summary, [recipient]).then((rows) => rows[0]);
  }

  async hasMessage(recipient: Xuid, messageId: string): Promise<boolean> {
    const [row] = await this.database.rows(INBOX_SQL.exists, [recipient, messageId]);
    return row.found;
  }

  /**
   * Applies `action` to the entries named (ids sorted and distinct, so rows
   * are locked in the order the purge locks them); returns the ids whose
   * state it changed, sorted. Ids not in this inbox are passed over.
   */
  async apply(recipient: Xuid, action: BatchAction, messageIds: readonly string[]): Promise<string[]> {
    const rows =
      action === 'delete'
        ? await this.database.rows(INBOX_SQL.deleteMany, [recipient, messageIds])
        : await this.database.rows(INBOX_SQL.setReadState, [recipient, messageIds, action === 'markRead']);
    return rows.map((row) => row.messageId);
  }
}
