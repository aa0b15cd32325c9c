import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { CommunicationSetting } from '@app/shared/database/entities/user.entity';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';

export interface PendingMessage {
  id: string;
  senderXuid: Xuid;
  messageType: MessageType;
  text: string;
  subject: string | null;
  recipients: Xuid[];
  sent: Date;
  expiration: Date;
  delivered: boolean;
  expired: boolean;
  requestId: string | null;
}

/** A recipient's current directory state, as privacy needs it. */
export interface RecipientState {
  xuid: Xuid;
  communication: CommunicationSetting;
  blocksSender: boolean;
  friendsWithSender: boolean;
}

export interface NewInboxEntries {
  messageId: string;
  sent: Date;
  expiration: Date;
  senderXuid: Xuid;
  senderGamertag: string;
  messageType: MessageType;
  summary: string;
  recipients: Xuid[];
}

export interface PurgeResult {
  messages: number;
  entries: number;
}

@Injectable()
export class DeliveryRepository {
  constructor(private readonly dataSource: DataSource) {}

  async findMessage(id: string): Promise<PendingMessage | null> {
    const rows: PendingMessage[] = await this.dataSource.query(
      `SELECT id, sender_xuid AS "senderXuid", message_type AS "messageType", text, subject, recipients,
              sent, expiration, delivered_at IS NOT NULL AS delivered, expiration <= now() AS expired,
              request_id AS "requestId"
         FROM messages WHERE id = $1`,
      [id],
    );
    return rows[0] ?? null;
  }

  async senderGamertag(xuid: Xuid): Promise<string | null> {
    const rows: { gamertag: string }[] = await this.dataSource.query(`SELECT gamertag FROM users WHERE xuid = $1`, [xuid]);
    return rows[0]?.gamertag ?? null;
  }

  /** Each recipient's setting, whether they block the sender, and whether the sender is their friend: one query. */
  async recipientStates(senderXuid: Xuid, recipients: readonly Xuid[]): Promise<RecipientState[]> {
    return this.dataSource.query(
      `SELECT u.xuid, u.communication,
              EXISTS (SELECT 1 FROM blocks b WHERE b.owner_xuid = u.xuid AND b.blocked_xuid = $1) AS "blocksSender",
              EXISTS (SELECT 1 FROM friendships f WHERE f.user_xuid = u.xuid AND f.friend_xuid = $1) AS "friendsWithSender"
         FROM users u WHERE u.xuid = ANY($2::numeric[])`,
      [senderXuid, recipients],
    );
  }

  /**
   * Writes one inbox entry per recipient, moves each inbox's counter for the
   * rows actually inserted, and marks the message delivered: one statement,
   * so one transaction. Re-running it for the same message changes nothing
   * (the primary key ignores repeats, and counters follow only new rows).
   * Counters are touched in XUID order, as the purge does, so the two never
   * deadlock. Returns the number of entries written.
   */
  async writeEntries(entries: NewInboxEntries): Promise<number> {
    const rows: { written: number }[] = await this.dataSource.query(
      `WITH inserted AS (
         INSERT INTO inbox_entries
                (recipient_xuid, message_id, sent, expiration, sender_xuid, sender_gamertag, message_type, summary)
         SELECT r, $1, $2, $3, $4, $5, $6, $7 FROM unnest($8::numeric[]) AS r
         ON CONFLICT DO NOTHING
         RETURNING recipient_xuid
       ), counted AS (
         INSERT INTO inbox_counters AS c (recipient_xuid, total_items)
         SELECT recipient_xuid, 1 FROM inserted ORDER BY recipient_xuid
         ON CONFLICT (recipient_xuid) DO UPDATE SET total_items = c.total_items + 1
       ), delivered AS (
         UPDATE messages SET delivered_at = now() WHERE id = $1 AND delivered_at IS NULL
       )
       SELECT count(*)::int AS written FROM inserted`,
      [
        entries.messageId,
        entries.sent,
        entries.expiration,
        entries.senderXuid,
        entries.senderGamertag,
        entries.messageType,
        entries.summary,
        [...entries.recipients].sort(compareXuids),
      ],
    );
    return rows[0].written;
  }

  async markDelivered(id: string): Promise<void> {
    await this.dataSource.query(`UPDATE messages SET delivered_at = now() WHERE id = $1 AND delivered_at IS NULL`, [id]);
  }

  /** Accepted messages not delivered within `olderThanSeconds`, oldest first. */
  async undeliveredIds(olderThanSeconds: number, limit: number): Promise<string[]> {
    const rows: { id: string }[] = await this.dataSource.query(
      `SELECT id FROM messages
        WHERE delivered_at IS NULL AND sent < now() - make_interval(secs => $1)
        ORDER BY sent LIMIT $2`,
      [olderThanSeconds, limit],
    );
    return rows.map((row) => row.id);
  }

  /**
   * Deletes up to `batchSize` expired messages with their inbox entries,
   * keeping counters exact. The messages are locked first, so a delivery of
   * one of them still in flight finishes (and its entries are seen and
   * counted) before they go; later deliveries find the message gone.
   */
  async purgeExpiredBatch(batchSize: number): Promise<PurgeResult> {
    return this.dataSource.transaction(async (manager) => {
      const locked: { id: string }[] = await manager.query(
        `SELECT id FROM messages WHERE expiration <= now() ORDER BY expiration LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batchSize],
      );
      if (locked.length === 0) return { messages: 0, entries: 0 };
      const ids = locked.map((row) => row.id);
      const [{ entries }]: { entries: number }[] = await manager.query(
        `WITH removed AS (
           DELETE FROM inbox_entries WHERE message_id = ANY($1::varchar[]) RETURNING recipient_xuid
         ), per_inbox AS (
           SELECT recipient_xuid, count(*)::int AS n FROM removed GROUP BY recipient_xuid
         ), counted AS (
           UPDATE inbox_counters c SET total_items = c.total_items - p.n
             FROM (SELECT * FROM per_inbox ORDER BY recipient_xuid) p
            WHERE c.recipient_xuid = p.recipient_xuid
         )
         SELECT count(*)::int AS entries FROM removed`,
        [ids],
      );
      await manager.query(`DELETE FROM messages WHERE id = ANY($1::varchar[])`, [ids]);
      return { messages: ids.length, entries };
    });
  }

  /** Deletes expired Idempotency-Key records, at most `batchSize`. */
  async purgeIdempotencyKeys(batchSize: number): Promise<number> {
    const [, deleted]: [unknown, number] = await this.dataSource.query(
      `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1))`,
      [batchSize],
    );
    return deleted;
  }
}

function compareXuids(a: Xuid, b: Xuid): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}
