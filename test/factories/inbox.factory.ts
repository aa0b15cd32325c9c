import { randomBytes } from 'node:crypto';
import { decodeTime } from 'ulid';
import { DataSource } from 'typeorm';
import { createDataSourceOptions } from '@app/shared/database';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';
import { testDatabaseUrl } from '../setup/test-env';
import { uniqueGamertag, uniqueXuid } from './users.factory';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const DAY_MS = 86_400_000;

/**
 * A 26-character Crockford base32 id, ULID-like: 10 characters of the time in
 * milliseconds, then 16 random ones. Ids of later times sort after earlier
 * ones byte by byte, as the service's own ids do.
 */
export function messageIdAt(millis: number): string {
  let time = '';
  let rest = millis;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[rest % 32] + time;
    rest = Math.floor(rest / 32);
  }
  const random = Array.from(randomBytes(16), (byte) => CROCKFORD[byte % 32]).join('');
  return time + random;
}

/** The summary delivery stores: the subject of a system message, else the first 20 code points. */
export function summaryOf(text: string, type: MessageType = MessageType.User, subject?: string): string {
  if (type === MessageType.System && subject !== undefined) return subject;
  return Array.from(text).slice(0, 20).join('');
}

export interface Sender {
  xuid: Xuid;
  gamertag: string;
}

export interface MessageSpec {
  text?: string;
  /** A Date, or timestamptz text for sub-millisecond precision ("2030-01-01T00:00:00.123456Z"). */
  sent?: Date | string;
  expiration?: Date | string;
  sender?: Sender;
  type?: MessageType;
  subject?: string;
  id?: string;
  isRead?: boolean;
}

/** What was stored, with the values a response shows. */
export interface DeliveredMessage {
  id: string;
  recipient: Xuid;
  text: string;
  summary: string;
  type: MessageType;
  sender: Sender;
  isRead: boolean;
  /** Exact stored value, microseconds since the epoch. */
  sentMicros: bigint;
  /** ISO 8601 UTC with milliseconds, as the API answers. */
  sent: string;
  expiration: string;
}

interface InsertedRow {
  id: string;
  sent_us: string;
  expiration_ms: string;
}

/**
 * Writes inbox rows straight into Postgres exactly as the delivery worker does:
 * the message, one inbox entry per recipient, and the recipient's counter, in
 * one transaction.
 */
export class InboxFactory {
  private constructor(readonly dataSource: DataSource) {}

  static async create(): Promise<InboxFactory> {
    const dataSource = new DataSource({
      ...createDataSourceOptions({ DATABASE_URL: testDatabaseUrl(), DATABASE_POOL_SIZE: 4 }),
      logging: false,
    });
    await dataSource.initialize();
    return new InboxFactory(dataSource);
  }

  close(): Promise<void> {
    return this.dataSource.destroy();
  }

  query<T = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    return this.dataSource.query(sql, params);
  }

  async sender(gamertag = uniqueGamertag('S')): Promise<Sender> {
    const xuid = uniqueXuid();
    await this.dataSource.query(`INSERT INTO users (xuid, gamertag) VALUES ($1, $2)`, [xuid, gamertag]);
    return { xuid, gamertag };
  }

  /**
   * Delivers messages to one recipient. Defaults: sent now minus the spec's
   * position in milliseconds (so the list is newest first), expiration 30 days
   * after sent, a fresh sender, a text naming the position.
   */
  async deliver(recipient: Xuid, specs: MessageSpec[]): Promise<DeliveredMessage[]> {
    if (specs.length === 0) return [];
    const now = Date.now();
    const defaultSender = specs.some((spec) => spec.sender === undefined) ? await this.sender() : undefined;
    const prepared = specs.map((spec, index) => {
      const sent = spec.sent ?? (spec.id ? new Date(decodeTime(spec.id)) : new Date(now - index));
      const sentMillis = typeof sent === 'string' ? Date.parse(sent) : sent.getTime();
      // The service's invariant, which the inbox's order relies on: a message's
      // sent time is its id's, to the millisecond.
      if (typeof sent === 'string' && /\.\d{4,}/.test(sent)) {
        throw new Error(`sent ${sent}: message ids carry milliseconds, nothing finer`);
      }
      if (spec.id !== undefined && decodeTime(spec.id) !== sentMillis) {
        throw new Error(`message id ${spec.id} does not carry the sent time ${String(sent)}`);
      }
      const type = spec.type ?? MessageType.User;
      const text = spec.text ?? `message ${index} ${randomBytes(4).toString('hex')}`;
      return {
        id: spec.id ?? messageIdAt(sentMillis),
        sent: typeof sent === 'string' ? sent : sent.toISOString(),
        expiration: toText(spec.expiration ?? new Date(sentMillis + 30 * DAY_MS)),
        sender: spec.sender ?? (defaultSender as Sender),
        type,
        text,
        subject: spec.subject ?? null,
        summary: summaryOf(text, type, spec.subject),
        isRead: spec.isRead ?? false,
      };
    });

    const rows: InsertedRow[] = await this.dataSource.transaction(async (manager) => {
      const inserted: InsertedRow[] = await manager.query(
        `INSERT INTO messages (id, sender_xuid, message_type, text, subject, recipients, sent, expiration, delivered_at)
         SELECT m.id, m.sender_xuid, m.message_type, m.text, m.subject, ARRAY[$1::numeric], m.sent, m.expiration, now()
           FROM unnest($2::text[], $3::numeric[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[])
             AS m(id, sender_xuid, message_type, text, subject, sent, expiration)
         RETURNING id, (extract(epoch FROM sent) * 1000000)::int8 AS sent_us,
                   floor(extract(epoch FROM expiration) * 1000)::int8 AS expiration_ms`,
        [
          recipient,
          prepared.map((m) => m.id),
          prepared.map((m) => m.sender.xuid),
          prepared.map((m) => m.type),
          prepared.map((m) => m.text),
          prepared.map((m) => m.subject),
          prepared.map((m) => m.sent),
          prepared.map((m) => m.expiration),
        ],
      );
      await manager.query(
        `INSERT INTO inbox_entries (recipient_xuid, message_id, expiration, is_read,
                                    sender_xuid, sender_gamertag, message_type, summary)
         SELECT $1::numeric, m.id, m.expiration, e.is_read,
                m.sender_xuid, e.sender_gamertag, m.message_type, e.summary
           FROM unnest($2::text[], $3::text[], $4::text[], $5::boolean[]) AS e(id, sender_gamertag, summary, is_read)
           JOIN messages m ON m.id = e.id`,
        [
          recipient,
          prepared.map((m) => m.id),
          prepared.map((m) => m.sender.gamertag),
          prepared.map((m) => m.summary),
          prepared.map((m) => m.isRead),
        ],
      );
      await manager.query(
        `INSERT INTO inbox_counters (recipient_xuid, total_items, unread_items) VALUES ($1, $2, $3)
         ON CONFLICT (recipient_xuid) DO UPDATE SET total_items = inbox_counters.total_items + EXCLUDED.total_items,
                                                    unread_items = inbox_counters.unread_items + EXCLUDED.unread_items`,
        [recipient, prepared.length, prepared.filter((m) => !m.isRead).length],
      );
      return inserted;
    });

    const byId = new Map(rows.map((row) => [row.id, row]));
    return prepared.map((m) => {
      const row = byId.get(m.id)!;
      return {
        id: m.id,
        recipient,
        text: m.text,
        summary: m.summary,
        type: m.type,
        sender: m.sender,
        isRead: m.isRead,
        sentMicros: BigInt(row.sent_us),
        sent: new Date(Number(BigInt(row.sent_us) / 1000n)).toISOString(),
        expiration: new Date(Number(row.expiration_ms)).toISOString(),
      };
    });
  }

  /** What the purge job will do for one entry: delete it and decrement the counter. */
  async purge(recipient: Xuid, messageId: string): Promise<void> {
    await this.dataSource.query(
      `WITH gone AS (DELETE FROM inbox_entries WHERE recipient_xuid = $1 AND message_id = $2 RETURNING recipient_xuid, is_read)
       UPDATE inbox_counters c SET total_items = c.total_items - 1, unread_items = c.unread_items - (NOT gone.is_read)::int
         FROM gone WHERE c.recipient_xuid = gone.recipient_xuid`,
      [recipient, messageId],
    );
  }

  async counter(recipient: Xuid): Promise<number | null> {
    const [row] = await this.query<{ total_items: number }>(
      `SELECT total_items FROM inbox_counters WHERE recipient_xuid = $1`,
      [recipient],
    );
    return row ? row.total_items : null;
  }

  async entry(recipient: Xuid, messageId: string): Promise<{ is_read: boolean } | null> {
    const [row] = await this.query<{ is_read: boolean }>(
      `SELECT is_read FROM inbox_entries WHERE recipient_xuid = $1 AND message_id = $2`,
      [recipient, messageId],
    );
    return row ?? null;
  }
}

/** Newest first, as the inbox lists: sent descending, then id descending (byte order; ids carry the sent time). */
export function newestFirst(messages: DeliveredMessage[]): DeliveredMessage[] {
  return [...messages].sort((a, b) =>
    a.sentMicros !== b.sentMicros ? (a.sentMicros < b.sentMicros ? 1 : -1) : a.id < b.id ? 1 : a.id > b.id ? -1 : 0,
  );
}

/** The listing item the contract promises for a delivered message. */
export function expectedItem(message: DeliveredMessage, isRead = message.isRead): Record<string, unknown> {
  return {
    header: {
      id: message.id,
      isRead,
      sent: message.sent,
      expiration: message.expiration,
      messageType: message.type,
      senderXuid: message.sender.xuid,
      sender: message.sender.gamertag,
      hasAudio: false,
      hasPhoto: false,
      hasText: true,
      messageFolderType: 'Inbox',
    },
    messageSummary: message.summary,
  };
}

/** The detail body the contract promises for a delivered message. */
export function expectedDetail(message: DeliveredMessage): Record<string, unknown> {
  return {
    header: {
      sent: message.sent,
      expiration: message.expiration,
      messageType: message.type,
      senderXuid: message.sender.xuid,
      sender: message.sender.gamertag,
      hasAudio: false,
      hasPhoto: false,
      hasText: true,
      messageFolderType: 'Inbox',
    },
    messageText: message.text,
    attachmentId: null,
    attachment: null,
  };
}

function toText(value: Date | string): string {
  return typeof value === 'string' ? value : value.toISOString();
}

export interface ApiResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON, or undefined for an empty body. */
  body: any;
  text: string;
}

/** One HTTP request to a running gateway. */
export async function request(
  baseUrl: string,
  method: 'GET' | 'DELETE',
  path: string,
  headers: Record<string, string> = {},
): Promise<ApiResponse> {
  const response = await fetch(`${baseUrl}${path}`, { method, headers });
  const text = await response.text();
  return { status: response.status, headers: response.headers, body: text === '' ? undefined : JSON.parse(text), text };
}

export const inboxPath = (xuid: string, query = ''): string => `/users/xuid(${xuid})/inbox${query}`;
