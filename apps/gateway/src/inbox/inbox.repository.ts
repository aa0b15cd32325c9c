import { Injectable } from '@nestjs/common';
import { Database, statement } from '@app/shared/database';
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
  read: statement<[recipient: Xuid, messageId: string], InboxMessage>(
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
       RETURNING 1
     )
     SELECT entry.*, EXISTS (SELECT 1 FROM marked) AS "markedRead" FROM entry`,
  ),
  // One statement, so one transaction: the counter drops only when a row went.
  delete: statement<[recipient: Xuid, messageId: string]>(
    'inbox.delete',
    `WITH deleted AS (
       DELETE FROM inbox_entries WHERE recipient_xuid = $1::numeric AND message_id = $2::varchar
       RETURNING recipient_xuid
     )
     UPDATE inbox_counters c SET total_items = c.total_items - 1
       FROM deleted d
      WHERE c.recipient_xuid = d.recipient_xuid
     RETURNING 1`,
  ),
} as const;

@Injectable()
export class InboxRepository {
  constructor(private readonly database: Database) {}

  /** Unexpired entries, newest first (by message id), with the inbox's unexpired total. */
  async listPage(recipient: Xuid, query: PageQuery): Promise<{ entries: InboxListEntry[]; totalItems: number }> {
    const rows = query.afterId
      ? await this.database.rows(INBOX_SQL.nextPage, [recipient, query.limit, query.afterId])
      : await this.database.rows(INBOX_SQL.firstPage, [recipient, query.limit, query.skip]);
    const totalItems = rows[0].totalItems;
    if (rows[0].messageId === null) return { entries: [], totalItems };
    return { entries: rows as InboxListEntry[], totalItems };
  }

  /** The unexpired message, marked read; null when this inbox has no such entry. */
  async readMessage(recipient: Xuid, messageId: string): Promise<InboxMessage | null> {
    const [message] = await this.database.rows(INBOX_SQL.read, [recipient, messageId]);
    return message ?? null;
  }

  /** Removes the entry if present (expired or not) and keeps the counter in step; whether it was there. */
  async deleteEntry(recipient: Xuid, messageId: string): Promise<boolean> {
    return (await this.database.run(INBOX_SQL.delete, [recipient, messageId])).rowCount > 0;
  }
}
