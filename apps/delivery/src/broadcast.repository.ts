import { Injectable } from '@nestjs/common';
import { Database, statement } from '@app/shared/database';

/** What one run of a chunk did. */
export interface ChunkResult {
  /**
   * - `written`: its entries are committed now (`written` of them; fewer than
   *   targeted when recipients left the directory or already had it);
   * - `skipped`: nothing to do: written before, cancelled, or gone.
   */
  outcome: 'written' | 'skipped';
  written: number;
  /** What the stream events of the entries need (`recipients[i]` was given `sequences[i]`). */
  delivered: DeliveredEntries | null;
}

/** One message's entries as a delivery committed them, for the inbox event stream. */
export interface DeliveredEntries {
  id: string;
  sender: string | null;
  senderGamertag: string | null;
  messageType: string | null;
  summary: string | null;
  expirationMillis: string | null;
  recipients: string[];
  sequences: string[];
}

type ChunkRow = Omit<DeliveredEntries, 'id' | 'messageType'> & { found: boolean; written: number };

export interface PendingChunk {
  broadcast_id: string;
  chunk: number;
}

/** The statements of broadcast delivery and its purge, for plan checks and the broadcast benchmark. */
export const BROADCAST_SQL = {
  /**
   * Writes one chunk of a broadcast in one statement (docs/api.md, System messages):
   * - `chunk`: the chunk, locked (a racing run of the same chunk waits, then
   *   finds it done), if not written yet; and its broadcast, locked FOR SHARE,
   *   if still queued or running. Chunks share that lock, but a cancel
   *   (an UPDATE) waits for the chunks being written and every later chunk
   *   sees it: a cancel is a clean cut;
   * - `recipients`: the users of its primary-key range who were in the
   *   directory at the call, or those of its list still in the directory;
   *   no privacy rule applies (the service speaks, not a player);
   * - `counted`: see below; it comes first, as in user delivery, because it
   *   hands out the entries' sequence numbers;
   * - `inserted`: the entries, none if the message expired first. A plain
   *   INSERT, not ON CONFLICT DO NOTHING (which costs a speculative insertion
   *   per row, measured about twice the bare insert): the chunk is written
   *   and marked done in one commit, under its row lock, so no run ever meets
   *   its own rows, and chunks never share a recipient (disjoint ranges, a
   *   deduplicated list). The inbox primary key still refuses a duplicate,
   *   as an error rather than a second entry;
   * - `marked`: the chunk is done, with what it wrote, in the same commit.
   */
  writeChunk: statement<[broadcastId: string, chunk: number], ChunkRow>(
    'broadcast.write-chunk',
    `WITH chunk AS (
       SELECT c.broadcast_id, c.chunk, c.first_xuid, c.last_xuid, c.xuids,
              b.sender_xuid, b.sender_gamertag, b.subject, b.created_at, m.expiration, m.expiration > now() AS live
         FROM broadcast_chunks c
         JOIN broadcasts b ON b.id = c.broadcast_id
         JOIN messages m ON m.id = c.broadcast_id
        WHERE c.broadcast_id = $1::varchar AND c.chunk = $2::int AND c.done_at IS NULL
          AND b.state IN ('queued', 'running')
          FOR UPDATE OF c FOR SHARE OF b
     ), recipients AS (
       SELECT u.xuid FROM chunk k JOIN users u ON u.xuid BETWEEN k.first_xuid AND k.last_xuid
        WHERE k.xuids IS NULL AND k.live AND u.created_at <= k.created_at
       UNION ALL
       SELECT u.xuid FROM chunk k CROSS JOIN LATERAL unnest(k.xuids) AS x(xuid) JOIN users u ON u.xuid = x.xuid
        WHERE k.live
     ),
     -- COUNTERS: every insert of inbox entries moves its inboxes' counters
     -- (total and unread alike: a new entry is unread) by the rows it inserts,
     -- in the same statement, touching them in XUID order as user delivery and
     -- the purge do, so the three never deadlock. The same update hands out
     -- each inbox's next delivery sequence number (docs/api.md, Inbox events):
     -- the row stays locked until commit, so sequence order is commit order.
     -- A chunk names each recipient once, and no two chunks share one.
     counted AS (
       INSERT INTO inbox_counters AS c (recipient_xuid, total_items, unread_items, last_sequence)
       SELECT r.xuid, 1, 1, 1 FROM recipients r ORDER BY r.xuid
       ON CONFLICT (recipient_xuid) DO UPDATE
          SET total_items = c.total_items + 1, unread_items = c.unread_items + 1, last_sequence = c.last_sequence + 1
       RETURNING c.recipient_xuid, c.last_sequence
     ), inserted AS (
       INSERT INTO inbox_entries AS e
              (recipient_xuid, message_id, expiration, sender_xuid, sender_gamertag, message_type, summary, sequence)
       SELECT c.recipient_xuid, k.broadcast_id, k.expiration, k.sender_xuid, k.sender_gamertag, 'System', k.subject,
              c.last_sequence
         FROM chunk k CROSS JOIN counted c
       RETURNING e.recipient_xuid, e.sequence
     ), marked AS (
       UPDATE broadcast_chunks c SET done_at = now(), written = (SELECT count(*) FROM inserted)
         FROM chunk k
        WHERE c.broadcast_id = k.broadcast_id AND c.chunk = k.chunk
     )
     SELECT EXISTS (SELECT 1 FROM chunk) AS found, (SELECT count(*) FROM inserted)::int AS written,
            k.sender_xuid AS sender, k.sender_gamertag AS "senderGamertag", k.subject AS summary,
            floor(extract(epoch FROM k.expiration) * 1000)::int8::text AS "expirationMillis",
            coalesce((SELECT array_agg(i.recipient_xuid::text ORDER BY i.recipient_xuid) FROM inserted i), '{}') AS recipients,
            coalesce((SELECT array_agg(i.sequence::int8 ORDER BY i.recipient_xuid) FROM inserted i), '{}') AS sequences
       FROM (SELECT 1) AS one LEFT JOIN chunk k ON true`,
  ),
  // Only the first chunk of a queued broadcast changes it (the others find it running and lock nothing).
  markRunning: statement<[broadcastId: string]>(
    'broadcast.mark-running',
    `UPDATE broadcasts SET state = 'running' WHERE id = $1::varchar AND state = 'queued'`,
  ),
  // Done once no chunk is left to write; a cancelled broadcast stays cancelled.
  finish: statement<[broadcastId: string]>(
    'broadcast.finish',
    `UPDATE broadcasts b SET state = 'done', finished_at = now()
      WHERE b.id = $1::varchar AND b.state IN ('queued', 'running')
        AND NOT EXISTS (SELECT 1 FROM broadcast_chunks c WHERE c.broadcast_id = $1::varchar AND c.done_at IS NULL)`,
  ),
  /** Unwritten chunks of broadcasts accepted over `olderThanSeconds` ago and not finished (for the sweeper). */
  pendingChunks: statement<[olderThanSeconds: number, limit: number], PendingChunk>(
    'broadcast.pending-chunks',
    `SELECT c.broadcast_id, c.chunk
       FROM broadcasts b JOIN broadcast_chunks c ON c.broadcast_id = b.id
      WHERE b.state IN ('queued', 'running') AND b.created_at < now() - make_interval(secs => $1)
        AND c.done_at IS NULL
      ORDER BY b.created_at, c.chunk LIMIT $2`,
  ),
  /** Unfinished broadcasts whose chunks are all written (their last worker died before finishing them). */
  unfinished: statement<[olderThanSeconds: number], { id: string }>(
    'broadcast.unfinished',
    `SELECT b.id FROM broadcasts b
      WHERE b.state IN ('queued', 'running') AND b.created_at < now() - make_interval(secs => $1)
        AND NOT EXISTS (SELECT 1 FROM broadcast_chunks c WHERE c.broadcast_id = b.id AND c.done_at IS NULL)`,
  ),
  /**
   * The entries of one chunk of an expired broadcast, deleted by primary key
   * (the chunk names its recipients) with its inboxes' counters, in one
   * statement: the counters are updated in XUID order, as delivery touches
   * them. The chunk is marked purged; once all are, the purge of messages
   * takes the message (and, by cascade, the broadcast and its chunks).
   */
  purgeChunk: statement<[], { found: boolean; entries: number }>(
    'broadcast.purge-chunk',
    `WITH chunk AS (
       SELECT c.broadcast_id, c.chunk, c.first_xuid, c.last_xuid, c.xuids
         FROM broadcast_chunks c JOIN messages m ON m.id = c.broadcast_id
        WHERE m.expiration <= now() AND c.purged_at IS NULL
        LIMIT 1
          FOR UPDATE OF c SKIP LOCKED
     ), removed_range AS (
       DELETE FROM inbox_entries e USING chunk k
        WHERE k.xuids IS NULL AND e.recipient_xuid BETWEEN k.first_xuid AND k.last_xuid AND e.message_id = k.broadcast_id
       RETURNING e.recipient_xuid, e.is_read
     ), removed_list AS (
       DELETE FROM inbox_entries e USING chunk k
        WHERE k.xuids IS NOT NULL AND e.recipient_xuid = ANY(k.xuids) AND e.message_id = k.broadcast_id
       RETURNING e.recipient_xuid, e.is_read
     ), removed AS (
       SELECT recipient_xuid, is_read FROM removed_range UNION ALL SELECT recipient_xuid, is_read FROM removed_list
     ), locked AS (
       SELECT c.recipient_xuid, d.n, d.unread
         FROM inbox_counters c
         JOIN (SELECT r.recipient_xuid, count(*)::int AS n, (count(*) FILTER (WHERE NOT r.is_read))::int AS unread
                 FROM removed r GROUP BY r.recipient_xuid) d
           ON d.recipient_xuid = c.recipient_xuid
        ORDER BY c.recipient_xuid
          FOR UPDATE OF c
     ), counted AS (
       UPDATE inbox_counters c SET total_items = c.total_items - l.n, unread_items = c.unread_items - l.unread
         FROM locked l WHERE c.recipient_xuid = l.recipient_xuid
     ), marked AS (
       UPDATE broadcast_chunks c SET purged_at = now()
         FROM chunk k WHERE c.broadcast_id = k.broadcast_id AND c.chunk = k.chunk
     )
     SELECT EXISTS (SELECT 1 FROM chunk) AS found, (SELECT count(*) FROM removed)::int AS entries`,
  ),
} as const;

@Injectable()
export class BroadcastRepository {
  constructor(private readonly database: Database) {}

  /** Writes the chunk if it is still to be written; marks its broadcast running first. */
  async writeChunk(broadcastId: string, chunk: number): Promise<ChunkResult> {
    await this.database.run(BROADCAST_SQL.markRunning, [broadcastId]);
    const [row] = await this.database.rows(BROADCAST_SQL.writeChunk, [broadcastId, chunk]);
    if (!row.found) return { outcome: 'skipped', written: 0, delivered: null };
    const { found: _found, written, ...entries } = row;
    return { outcome: 'written', written, delivered: { id: broadcastId, messageType: 'System', ...entries } };
  }

  /** Marks the broadcast done if no chunk is left; whether it did. */
  async finish(broadcastId: string): Promise<boolean> {
    return (await this.database.run(BROADCAST_SQL.finish, [broadcastId])).rowCount === 1;
  }

  pendingChunks(olderThanSeconds: number, limit: number): Promise<PendingChunk[]> {
    return this.database.rows(BROADCAST_SQL.pendingChunks, [olderThanSeconds, limit]);
  }

  async unfinished(olderThanSeconds: number): Promise<string[]> {
    return (await this.database.rows(BROADCAST_SQL.unfinished, [olderThanSeconds])).map((row) => row.id);
  }

  /** Purges one chunk of an expired broadcast; null when none is left. */
  async purgeChunk(): Promise<number | null> {
    const [row] = await this.database.rows(BROADCAST_SQL.purgeChunk, []);
    return row.found ? row.entries : null;
  }
}
