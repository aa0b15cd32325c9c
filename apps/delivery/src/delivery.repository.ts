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
  /** The recipients this delivery wrote an entry for, and each entry's delivery sequence (same order). */
  recipients: Xuid[];
  sequences: string[];
  /** The listing fields of the entries written (null when none were). */
  summary: string | null;
  senderGamertag: string | null;
  messageType: string | null;
  /** Milliseconds since the epoch, as decimal digits; null when the message is gone. */
  expirationMillis: string | null;
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
   * - `fresh`: the pairs privacy lets through and that have no entry yet
   *   (one can exist for an undelivered message only if its delivered mark
   *   was lost or undone; the primary key probe keeps the counter and the
   *   numbers exact even then), numbered within each inbox;
   * - `counted`: each inbox's counters move by its fresh entries (all unread,
   *   so total and unread alike), summed per
   *   inbox first and touched in XUID order, as the purge does, so concurrent
   *   batches never deadlock; the same update hands out the inbox's next
   *   delivery sequence numbers (`last_sequence`). The counter row stays
   *   locked until commit, so a concurrent delivery to the same inbox numbers
   *   its entries after these, and commits after them: within an inbox,
   *   sequence order is commit order, which the event stream's replay relies
   *   on (docs/api.md, Inbox events);
   * - `inserted`: the entries with their numbers, once each however often this
   *   runs (primary key; a racing delivery of the same message waits on its
   *   lock and then finds it delivered); the recipients of a message are
   *   distinct (the gateway removes repeats);
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
     ), fresh AS (
       SELECT p.*,
              row_number() OVER (PARTITION BY p.recipient ORDER BY p.id) AS rank,
              count(*) OVER (PARTITION BY p.recipient) AS taken
         FROM pairs p
        WHERE p.dropped IS NULL
          AND NOT EXISTS (SELECT 1 FROM inbox_entries x WHERE x.recipient_xuid = p.recipient AND x.message_id = p.id)
     ), counted AS (
       INSERT INTO inbox_counters AS c (recipient_xuid, total_items, unread_items, last_sequence)
       SELECT f.recipient, count(*), count(*), count(*) FROM fresh f GROUP BY f.recipient ORDER BY f.recipient
       ON CONFLICT (recipient_xuid) DO UPDATE
          SET total_items = c.total_items + EXCLUDED.total_items,
              unread_items = c.unread_items + EXCLUDED.unread_items,
              last_sequence = c.last_sequence + EXCLUDED.last_sequence
       RETURNING c.recipient_xuid, c.last_sequence
     ), numbered AS MATERIALIZED (
       -- One object keyed by XUID: a lookup per entry, where a join of two
       -- CTE scans would be a nested loop (their row estimates are 1).
       SELECT jsonb_object_agg(c.recipient_xuid::text, c.last_sequence) AS last FROM counted c
     ), inserted AS (
       INSERT INTO inbox_entries AS e
              (recipient_xuid, message_id, expiration, sender_xuid, sender_gamertag, message_type, summary, sequence)
       SELECT f.recipient, f.id, f.expiration, f.sender_xuid, f.sender_gamertag, f.message_type, f.summary,
              (n.last ->> f.recipient::text)::int8 - f.taken + f.rank
         FROM fresh f
        CROSS JOIN numbered n
       ON CONFLICT DO NOTHING
       RETURNING e.recipient_xuid, e.message_id, e.sequence, e.summary
     ), marked AS (
       UPDATE messages m SET delivered_at = now() FROM locked l WHERE m.id = l.id AND NOT l.delivered
     ), written AS (
       SELECT i.message_id AS id, count(*)::int AS n, min(i.summary) AS summary,
              array_agg(i.recipient_xuid::text ORDER BY i.recipient_xuid) AS recipients,
              array_agg(i.sequence::int8 ORDER BY i.recipient_xuid) AS sequences
         FROM inserted i GROUP BY i.message_id
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
            coalesce(d.reasons, '{}') AS dropped,
            coalesce(w.recipients, '{}') AS recipients,
            coalesce(w.sequences, '{}') AS sequences,
            w.summary, l.sender_gamertag AS "senderGamertag", l.message_type AS "messageType",
            floor(extract(epoch FROM l.expiration) * 1000)::int8::text AS "expirationMillis"
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
  // By primary key, from each message's recipient list; per inbox, the entries removed and the unread among them.
  deleteEntries: statement<[messageIds: readonly string[]], { recipient: string; n: number; unread: number }>(
    'delivery.delete-entries',
    `WITH removed AS (
       DELETE FROM inbox_entries e
        USING messages m, unnest(m.recipients) AS r(xuid)
        WHERE m.id = ANY($1::varchar[]) AND e.recipient_xuid = r.xuid AND e.message_id = m.id
       RETURNING e.recipient_xuid, e.is_read
     )
     SELECT recipient_xuid AS recipient, count(*)::int AS n, (count(*) FILTER (WHERE NOT is_read))::int AS unread
       FROM removed GROUP BY recipient_xuid ORDER BY recipient_xuid`,
  ),
  // The counters are locked in XUID order first, as delivery touches them, so the two never deadlock.
  lockCounters: statement<[recipients: readonly string[]], { recipient_xuid: string }>(
    'delivery.lock-counters',
    `SELECT recipient_xuid FROM inbox_counters
      WHERE recipient_xuid = ANY($1::numeric[]) ORDER BY recipient_xuid FOR UPDATE`,
  ),
  decrementCounters: statement<[recipients: readonly string[], counts: readonly number[], unread: readonly number[]]>(
    'delivery.decrement-counters',
    `UPDATE inbox_counters c SET total_items = c.total_items - d.n, unread_items = c.unread_items - d.unread
       FROM unnest($1::numeric[], $2::int[], $3::int[]) AS d(recipient, n, unread)
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
        await tx.run(DELIVERY_SQL.decrementCounters, [
          recipients,
          removed.map((row) => row.n),
          removed.map((row) => row.unread),
        ]);
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
