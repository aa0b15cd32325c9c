import { Injectable } from '@nestjs/common';
import { Database, statement } from '@app/shared/database';
import { Xuid } from '@app/shared/xuid';
import { DropReason } from './delivery.metrics';

/**
 * What became of one message of a batch:
 * - `delivered`: its entries are committed (possibly none, if privacy dropped everyone);
 * - `already-delivered`: an earlier delivery did it;
 * - `expired`: it expired before anyone delivered it; marked delivered, no entries;
 * - `no-sender`: the sender left the directory; marked delivered, no entries;
 * - `gone`: no such message (purged).
 */
export type BatchOutcome = 'delivered' | 'already-delivered' | 'expired' | 'no-sender' | 'gone';

export interface BatchResult {
  id: string;
  /** Null when the message is gone. */
  sender: Xuid | null;
  outcome: BatchOutcome;
  /** Entries this delivery inserted. */
  written: number;
  /** One reason per recipient privacy dropped. */
  dropped: DropReason[];
}

/** Where a sweep of the undelivered list stopped. */
export interface UndeliveredCursor {
  sent: Date;
  id: string;
}

export const SWEEP_START: UndeliveredCursor = { sent: new Date(0), id: '' };

export interface PurgeResult {
  messages: number;
  entries: number;
}

/** The statements of delivery and maintenance, for plan checks and the load benchmark. */
export const DELIVERY_SQL = {
  /**
   * Delivers a batch of accepted messages in one statement, so one round trip
   * and one commit for the whole batch (docs/api.md, Delivery and privacy):
   * - `locked`: the batch's messages, locked in id order (the caller sorts
   *   the ids), so a racing delivery of the same message waits for this one
   *   and then finds it delivered, and the purge (SKIP LOCKED) leaves them be;
   *   the lock, like the update it guards, leaves the key alone;
   * - `pairs`: each (message, recipient) with the reason privacy drops it, read
   *   now, at delivery time: the recipient blocks the sender, refuses everyone,
   *   or accepts only friends and the sender is not one; a sender messaging
   *   themself always arrives;
   * - `inserted`: the entries, once each however often this runs (primary key);
   * - `counted`: each inbox's counter moves by the entries actually inserted,
   *   summed per inbox first and touched in XUID order, as the purge does, so
   *   concurrent batches never deadlock;
   * - `marked`: the messages are delivered (expired ones too, with no entries).
   * `summary` is the first 20 code points (`left` counts characters, and the
   * database is UTF-8), or a system message's subject.
   */
  deliver: statement<[messageIds: readonly string[]], BatchResult>(
    'delivery.deliver',
    `WITH locked AS (
       SELECT m.id, m.sender_xuid, m.message_type, m.text, m.subject, m.recipients, m.expiration,
              m.delivered_at IS NOT NULL AS delivered, m.expiration <= now() AS expired, s.gamertag AS sender_gamertag
         FROM messages m
         LEFT JOIN users s ON s.xuid = m.sender_xuid
        WHERE m.id = ANY($1::varchar[])
        ORDER BY m.id
          FOR NO KEY UPDATE OF m
     ), pairs AS (
       SELECT l.id, l.sender_xuid, l.sender_gamertag, l.message_type, l.expiration,
              CASE WHEN l.message_type <> 'User' AND l.subject IS NOT NULL THEN l.subject
                   ELSE left(l.text, 20) END AS summary,
              r.xuid AS recipient,
              CASE
                WHEN r.xuid = l.sender_xuid THEN NULL
                WHEN u.xuid IS NULL THEN '${DropReason.UnknownRecipient}'
                WHEN EXISTS (SELECT 1 FROM blocks b WHERE b.owner_xuid = r.xuid AND b.blocked_xuid = l.sender_xuid)
                  THEN '${DropReason.BlockedSender}'
                WHEN u.communication = 'blocked' THEN '${DropReason.SettingBlocked}'
                WHEN u.communication = 'friends'
                 AND NOT EXISTS (SELECT 1 FROM friendships f WHERE f.user_xuid = r.xuid AND f.friend_xuid = l.sender_xuid)
                  THEN '${DropReason.FriendsOnly}'
              END AS dropped
         FROM locked l
        CROSS JOIN LATERAL unnest(l.recipients) AS r(xuid)
         LEFT JOIN users u ON u.xuid = r.xuid
        WHERE NOT l.delivered AND NOT l.expired AND l.sender_gamertag IS NOT NULL
     ), inserted AS (
       INSERT INTO inbox_entries AS e
              (recipient_xuid, message_id, expiration, sender_xuid, sender_gamertag, message_type, summary)
       SELECT p.recipient, p.id, p.expiration, p.sender_xuid, p.sender_gamertag, p.message_type, p.summary
         FROM pairs p
        WHERE p.dropped IS NULL
       ON CONFLICT DO NOTHING
       RETURNING e.recipient_xuid, e.message_id
     ), counted AS (
       INSERT INTO inbox_counters AS c (recipient_xuid, total_items)
       SELECT i.recipient_xuid, count(*) FROM inserted i GROUP BY i.recipient_xuid ORDER BY i.recipient_xuid
       ON CONFLICT (recipient_xuid) DO UPDATE SET total_items = c.total_items + EXCLUDED.total_items
     ), marked AS (
       UPDATE messages m SET delivered_at = now() FROM locked l WHERE m.id = l.id AND NOT l.delivered
     ), written AS (
       SELECT i.message_id AS id, count(*)::int AS n FROM inserted i GROUP BY i.message_id
     ), drops AS (
       SELECT p.id, array_agg(p.dropped) AS reasons FROM pairs p WHERE p.dropped IS NOT NULL GROUP BY p.id
     )
     SELECT q.id, l.sender_xuid AS sender,
            CASE WHEN l.id IS NULL THEN 'gone'
                 WHEN l.delivered THEN 'already-delivered'
                 WHEN l.expired THEN 'expired'
                 WHEN l.sender_gamertag IS NULL THEN 'no-sender'
                 ELSE 'delivered' END AS outcome,
            coalesce(w.n, 0) AS written,
            coalesce(d.reasons, '{}') AS dropped
       FROM unnest($1::varchar[]) AS q(id)
       LEFT JOIN locked l ON l.id = q.id
       LEFT JOIN written w ON w.id = q.id
       LEFT JOIN drops d ON d.id = q.id`,
  ),
  // Keyset over (sent, id), so successive sweeps walk the whole undelivered
  // list instead of meeting the same head every time.
  undelivered: statement<
    [olderThanSeconds: number, afterSent: Date, afterId: string, limit: number],
    { id: string; request_id: string | null; sent: Date }
  >(
    'delivery.undelivered',
    `SELECT id, request_id, sent FROM messages
      WHERE delivered_at IS NULL AND sent < now() - make_interval(secs => $1)
        AND sent >= $2 AND (sent, id) > ($2, $3::varchar)
      ORDER BY sent, id LIMIT $4`,
  ),
  // A system message waits until the purge of its broadcast's chunks has taken
  // its entries (BROADCAST_SQL.purgeChunk); its own recipient list is empty.
  lockExpired: statement<[limit: number], { id: string; recipients: string[] }>(
    'delivery.lock-expired',
    `SELECT id, recipients FROM messages m
      WHERE expiration <= now()
        AND NOT EXISTS (SELECT 1 FROM broadcast_chunks c WHERE c.broadcast_id = m.id AND c.purged_at IS NULL)
      ORDER BY expiration LIMIT $1 FOR UPDATE SKIP LOCKED`,
  ),
  // By primary key, from each message's recipient list.
  deleteEntries: statement<[messageIds: readonly string[]], { recipient: string; n: number }>(
    'delivery.delete-entries',
    `WITH removed AS (
       DELETE FROM inbox_entries e
        USING messages m, unnest(m.recipients) AS r(xuid)
        WHERE m.id = ANY($1::varchar[]) AND e.recipient_xuid = r.xuid AND e.message_id = m.id
       RETURNING e.recipient_xuid
     )
     SELECT recipient_xuid AS recipient, count(*)::int AS n FROM removed GROUP BY recipient_xuid ORDER BY recipient_xuid`,
  ),
  // The counters are locked in XUID order first, as delivery touches them, so the two never deadlock.
  lockCounters: statement<[recipients: readonly string[]], { recipient_xuid: string }>(
    'delivery.lock-counters',
    `SELECT recipient_xuid FROM inbox_counters
      WHERE recipient_xuid = ANY($1::numeric[]) ORDER BY recipient_xuid FOR UPDATE`,
  ),
  decrementCounters: statement<[recipients: readonly string[], counts: readonly number[]]>(
    'delivery.decrement-counters',
    `UPDATE inbox_counters c SET total_items = c.total_items - d.n
       FROM unnest($1::numeric[], $2::int[]) AS d(recipient, n)
      WHERE c.recipient_xuid = d.recipient`,
  ),
  deleteMessages: statement<[messageIds: readonly string[]]>(
    'delivery.delete-messages',
    `DELETE FROM messages WHERE id = ANY($1::varchar[])`,
  ),
  purgeIdempotencyKeys: statement<[limit: number]>(
    'delivery.purge-idempotency-keys',
    `DELETE FROM idempotency_keys WHERE ctid = ANY(ARRAY(
       SELECT ctid FROM idempotency_keys WHERE expires_at <= now() LIMIT $1))`,
  ),
} as const;

@Injectable()
export class DeliveryRepository {
  constructor(private readonly database: Database) {}

  /** Delivers these messages in one transaction; one result per id, in order. */
  deliver(messageIds: readonly string[]): Promise<BatchResult[]> {
    return this.database.rows(DELIVERY_SQL.deliver, [[...messageIds].sort()]);
  }

  /**
   * Accepted messages not delivered within `olderThanSeconds`, oldest first,
   * after the cursor (sent, id) of the previous call.
   */
  undelivered(
    olderThanSeconds: number,
    after: UndeliveredCursor,
    limit: number,
  ): Promise<{ id: string; request_id: string | null; sent: Date }[]> {
    return this.database.rows(DELIVERY_SQL.undelivered, [olderThanSeconds, after.sent, after.id, limit]);
  }

  /**
   * Deletes up to `batchSize` expired messages with their inbox entries,
   * keeping counters exact, in one transaction. The messages are locked first,
   * so a delivery of one of them still in flight finishes (and its entries are
   * seen and counted) before they go; later deliveries find the message gone.
   */
  async purgeExpiredBatch(batchSize: number): Promise<PurgeResult> {
    return this.database.transaction(async (tx) => {
      const locked = await tx.rows(DELIVERY_SQL.lockExpired, [batchSize]);
      if (locked.length === 0) return { messages: 0, entries: 0 };
      const ids = locked.map((row) => row.id);
      const removed = await tx.rows(DELIVERY_SQL.deleteEntries, [ids]);
      if (removed.length > 0) {
        const recipients = removed.map((row) => row.recipient);
        await tx.run(DELIVERY_SQL.lockCounters, [recipients]);
        await tx.run(DELIVERY_SQL.decrementCounters, [recipients, removed.map((row) => row.n)]);
      }
      await tx.run(DELIVERY_SQL.deleteMessages, [ids]);
      return { messages: ids.length, entries: removed.reduce((sum, row) => sum + row.n, 0) };
    });
  }

  /** Deletes expired Idempotency-Key records, at most `batchSize`. */
  async purgeIdempotencyKeys(batchSize: number): Promise<number> {
    return (await this.database.run(DELIVERY_SQL.purgeIdempotencyKeys, [batchSize])).rowCount;
  }
}
