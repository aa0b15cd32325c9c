import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';
import { InboxCursor } from './continuation-token';

/** One inbox entry as a listing shows it. */
export interface InboxListEntry {
  messageId: string;
  /** Microseconds since the epoch, as decimal digits (exact, for the cursor). */
  sentMicros: string;
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
  sentMicros: string;
  expirationMillis: string;
  senderXuid: Xuid;
  sender: string;
  messageType: MessageType;
  text: string;
}

export interface PageQuery {
  /** Start strictly after this entry; when absent, start at the newest. */
  after?: InboxCursor;
  /** Entries to pass over first (only without `after`; at most 100, so a short OFFSET). */
  skip: number;
  limit: number;
}

const LIST_COLUMNS = `
  e.message_id AS "messageId",
  (extract(epoch FROM e.sent) * 1000000)::int8 AS "sentMicros",
  floor(extract(epoch FROM e.expiration) * 1000)::int8 AS "expirationMillis",
  e.is_read AS "isRead",
  e.sender_xuid AS "senderXuid",
  e.sender_gamertag AS "sender",
  e.message_type AS "messageType",
  e.summary`;

// Unexpired entries = the maintained counter minus entries that expired but
// are not purged yet: a bounded range of inbox_entries_recipient_expiration_idx,
// never a count over the whole inbox.
const TOTAL_ITEMS = `
  greatest(
    coalesce((SELECT c.total_items FROM inbox_counters c WHERE c.recipient_xuid = $1::numeric), 0)
    - (SELECT count(*) FROM inbox_entries x WHERE x.recipient_xuid = $1::numeric AND x.expiration <= now()),
    0)::int`;

// Both pages are a backward range scan of inbox_entries_page_idx
// (recipient_xuid, sent, message_id): no sort, and only `limit` rows are read
// past the start (plus at most 100 skipped on a first page).
const FIRST_PAGE_SQL = `
  SELECT ${LIST_COLUMNS}, ${TOTAL_ITEMS} AS "totalItems"
    FROM inbox_entries e
   WHERE e.recipient_xuid = $1::numeric AND e.expiration > now()
   ORDER BY e.sent DESC, e.message_id DESC
   LIMIT $2 OFFSET $3`;

const NEXT_PAGE_SQL = `
  SELECT ${LIST_COLUMNS}, ${TOTAL_ITEMS} AS "totalItems"
    FROM inbox_entries e
   WHERE e.recipient_xuid = $1::numeric AND e.expiration > now()
     AND (e.sent, e.message_id) < ($3::timestamptz, $4)
   ORDER BY e.sent DESC, e.message_id DESC
   LIMIT $2`;

const TOTAL_SQL = `SELECT ${TOTAL_ITEMS} AS "totalItems"`;

// Reads the message and marks it read in one statement; an entry already read
// is not rewritten, so reading it again costs no write.
const READ_SQL = `
  WITH entry AS (
    SELECT (extract(epoch FROM e.sent) * 1000000)::int8 AS "sentMicros",
           floor(extract(epoch FROM e.expiration) * 1000)::int8 AS "expirationMillis",
           e.sender_xuid AS "senderXuid",
           e.sender_gamertag AS "sender",
           e.message_type AS "messageType",
           m.text
      FROM inbox_entries e
      JOIN messages m ON m.id = e.message_id
     WHERE e.recipient_xuid = $1::numeric AND e.message_id = $2 AND e.expiration > now()
  ), marked AS (
    UPDATE inbox_entries SET is_read = true
     WHERE recipient_xuid = $1::numeric AND message_id = $2 AND expiration > now() AND NOT is_read
  )
  SELECT * FROM entry`;

// One statement, so one transaction: the counter drops only when a row went.
const DELETE_SQL = `
  WITH deleted AS (
    DELETE FROM inbox_entries WHERE recipient_xuid = $1::numeric AND message_id = $2
    RETURNING recipient_xuid
  )
  UPDATE inbox_counters c SET total_items = c.total_items - 1
    FROM deleted d
   WHERE c.recipient_xuid = d.recipient_xuid`;

/** The statements, for plan checks (bench/inbox.ts runs EXPLAIN on them). */
export const INBOX_SQL = {
  firstPage: FIRST_PAGE_SQL,
  nextPage: NEXT_PAGE_SQL,
  total: TOTAL_SQL,
  read: READ_SQL,
} as const;

type PageRow = InboxListEntry & { totalItems: number };

@Injectable()
export class InboxRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Unexpired entries, newest first (sent desc, message id desc), with the inbox's unexpired total. */
  async listPage(recipient: Xuid, query: PageQuery): Promise<{ entries: InboxListEntry[]; totalItems: number }> {
    const rows: PageRow[] = query.after
      ? await this.dataSource.query(NEXT_PAGE_SQL, [
          recipient,
          query.limit,
          microsToTimestamp(query.after.sentMicros),
          query.after.messageId,
        ])
      : await this.dataSource.query(FIRST_PAGE_SQL, [recipient, query.limit, query.skip]);
    if (rows.length === 0) return { entries: [], totalItems: await this.countUnexpired(recipient) };
    return { entries: rows, totalItems: rows[0].totalItems };
  }

  async countUnexpired(recipient: Xuid): Promise<number> {
    const [row]: { totalItems: number }[] = await this.dataSource.query(TOTAL_SQL, [recipient]);
    return row.totalItems;
  }

  /** The unexpired message, marked read; null when this inbox has no such entry. */
  async readMessage(recipient: Xuid, messageId: string): Promise<InboxMessage | null> {
    const rows: InboxMessage[] = await this.dataSource.query(READ_SQL, [recipient, messageId]);
    return rows[0] ?? null;
  }

  /** Removes the entry if present (expired or not) and keeps the counter in step. */
  async deleteEntry(recipient: Xuid, messageId: string): Promise<void> {
    await this.dataSource.query(DELETE_SQL, [recipient, messageId]);
  }
}

/** Exact timestamptz text for microseconds since the epoch (a JS Date would drop the last three digits). */
function microsToTimestamp(micros: bigint): string {
  const millis = micros / 1000n;
  const rest = (micros % 1000n).toString().padStart(3, '0');
  return new Date(Number(millis)).toISOString().replace('Z', `${rest}Z`);
}
