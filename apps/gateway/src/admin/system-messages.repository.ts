import { Injectable } from '@nestjs/common';
import { Database, Queryable, statement } from '@app/shared/database';
import { BroadcastAudience, BroadcastState } from '@app/shared/database/entities/broadcast.entity';
import { Xuid } from '@app/shared/xuid';

export interface NewBroadcast {
  id: string;
  subject: string;
  text: string;
  /** Sorted distinct XUIDs, or everyone in the directory now. */
  recipients: Xuid[] | 'all';
  sent: Date;
  expiration: Date;
  senderXuid: Xuid;
  senderGamertag: string;
  requestId: string;
  idempotencyKey: string | null;
  requestHash: string | null;
  chunkSize: number;
}

export interface BroadcastStatus {
  id: string;
  state: BroadcastState;
  subject: string;
  audience: BroadcastAudience;
  targeted: number;
  delivered: number;
  chunks: number;
  chunksDone: number;
  createdAt: Date;
  finishedAt: Date | null;
  expiration: Date;
}

/** The chunks the delivery workers are to write. */
export type CreateOutcome =
  { outcome: 'created'; chunks: number[] } | { outcome: 'exists'; id: string; requestHash: string | null };

/** The statements of the system-message admin API. */
export const SYSTEM_MESSAGES_SQL = {
  findByKey: statement<[key: string], { id: string; request_hash: string | null }>(
    'system-messages.find-by-key',
    `SELECT id, request_hash FROM broadcasts WHERE idempotency_key = $1`,
  ),
  unknownXuids: statement<[xuids: readonly Xuid[]], { xuid: Xuid }>(
    'system-messages.unknown-xuids',
    `SELECT x.xuid FROM unnest($1::numeric[]) AS x(xuid)
      WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.xuid = x.xuid) ORDER BY x.xuid`,
  ),
  // delivered_at is set at once: the user-delivery sweeper leaves a system
  // message alone (its chunks say what is delivered).
  insertMessage: statement<[id: string, text: string, subject: string, sent: Date, expiration: Date, requestId: string]>(
    'system-messages.insert-message',
    `INSERT INTO messages (id, sender_xuid, message_type, text, subject, recipients, sent, expiration, delivered_at, request_id)
     VALUES ($1, NULL, 'System', $2, $3, '{}', $4, $5, $4, $6)`,
  ),
  insertBroadcast: statement<
    [
      id: string,
      subject: string,
      senderXuid: Xuid,
      senderGamertag: string,
      audience: BroadcastAudience,
      createdAt: Date,
      idempotencyKey: string | null,
      requestHash: string | null,
    ],
    { id: string }
  >(
    'system-messages.insert-broadcast',
    `INSERT INTO broadcasts (id, subject, sender_xuid, sender_gamertag, audience, targeted, chunks, created_at, idempotency_key, request_hash)
     VALUES ($1, $2, $3, $4, $5, 0, 0, $6, $7, $8)
     ON CONFLICT (idempotency_key) DO NOTHING RETURNING id`,
  ),
  /**
   * `all`: the next `chunkSize` users of the directory after `afterXuid` (an
   * index-only range of the primary key), as one chunk: an inclusive range
   * [first, last], so a user created later inside a range may receive it too
   * (the chunk's statement takes only users created by the broadcast's time).
   * One statement per chunk, so a directory of any size never meets the
   * statement timeout; null `last` when the directory is exhausted.
   */
  insertNextRangeChunk: statement<
    [id: string, chunk: number, afterXuid: string, chunkSize: number],
    { last: Xuid | null; targeted: number }
  >(
    'system-messages.insert-next-range-chunk',
    `WITH part AS (
       SELECT u.xuid FROM users u WHERE u.xuid > $3::numeric ORDER BY u.xuid LIMIT $4::int
     ), range AS (
       SELECT min(xuid) AS first, max(xuid) AS last, count(*)::int AS n FROM part
     ), inserted AS (
       INSERT INTO broadcast_chunks (broadcast_id, chunk, first_xuid, last_xuid, targeted)
       SELECT $1, $2, r.first, r.last, r.n FROM range r WHERE r.n > 0
     )
     SELECT last, n AS targeted FROM range`,
  ),
  insertListChunk: statement<[id: string, chunk: number, xuids: readonly Xuid[]]>(
    'system-messages.insert-list-chunk',
    `INSERT INTO broadcast_chunks (broadcast_id, chunk, xuids, targeted) VALUES ($1, $2, $3::numeric[], cardinality($3::numeric[]))`,
  ),
  setTotals: statement<[id: string, chunks: number, targeted: number]>(
    'system-messages.set-totals',
    `UPDATE broadcasts SET chunks = $2, targeted = $3,
            state = CASE WHEN $2 = 0 THEN 'done' ELSE state END,
            finished_at = CASE WHEN $2 = 0 THEN now() ELSE finished_at END
      WHERE id = $1`,
  ),
  status: statement<[id: string], BroadcastStatus>(
    'system-messages.status',
    `SELECT b.id, b.state, b.subject, b.audience, b.targeted, b.chunks,
            b.created_at AS "createdAt", b.finished_at AS "finishedAt", m.expiration,
            coalesce(p.delivered, 0)::int AS delivered, coalesce(p.done, 0)::int AS "chunksDone"
       FROM broadcasts b
       JOIN messages m ON m.id = b.id
       LEFT JOIN LATERAL (
         SELECT sum(c.written) AS delivered, count(c.done_at) AS done FROM broadcast_chunks c WHERE c.broadcast_id = b.id
       ) p ON true
      WHERE b.id = $1`,
  ),
  // Waits for the chunks being written (they hold the row FOR SHARE); every later chunk sees the cancel.
  cancel: statement<[id: string]>(
    'system-messages.cancel',
    `UPDATE broadcasts SET state = 'cancelled', finished_at = now() WHERE id = $1 AND state IN ('queued', 'running')`,
  ),
} as const;

@Injectable()
export class SystemMessagesRepository {
  constructor(private readonly database: Database) {}

  async findByKey(key: string): Promise<{ id: string; requestHash: string | null } | null> {
    const [row] = await this.database.rows(SYSTEM_MESSAGES_SQL.findByKey, [key]);
    return row ? { id: row.id, requestHash: row.request_hash } : null;
  }

  async unknownXuids(xuids: readonly Xuid[]): Promise<Xuid[]> {
    return (await this.database.rows(SYSTEM_MESSAGES_SQL.unknownXuids, [xuids])).map((row) => row.xuid);
  }

  /**
   * Stores the message, its broadcast and its chunks in one transaction:
   * once this returns, the broadcast will be delivered (the sweeper enqueues
   * chunks whose jobs never made it). With an Idempotency-Key another request
   * already used, stores nothing and names that broadcast.
   */
  create(broadcast: NewBroadcast): Promise<CreateOutcome> {
    return this.database
      .transaction(async (tx): Promise<CreateOutcome> => {
        await tx.run(SYSTEM_MESSAGES_SQL.insertMessage, [
          broadcast.id,
          broadcast.text,
          broadcast.subject,
          broadcast.sent,
          broadcast.expiration,
          broadcast.requestId,
        ]);
        const audience = broadcast.recipients === 'all' ? BroadcastAudience.All : BroadcastAudience.List;
        const inserted = await tx.rows(SYSTEM_MESSAGES_SQL.insertBroadcast, [
          broadcast.id,
          broadcast.subject,
          broadcast.senderXuid,
          broadcast.senderGamertag,
          audience,
          broadcast.sent,
          broadcast.idempotencyKey,
          broadcast.requestHash,
        ]);
        if (inserted.length === 0) throw new KeyTaken();
        const chunks = await insertChunks(tx, broadcast);
        const targeted = chunks.reduce((sum, chunk) => sum + chunk.targeted, 0);
        await tx.run(SYSTEM_MESSAGES_SQL.setTotals, [broadcast.id, chunks.length, targeted]);
        return { outcome: 'created', chunks: chunks.map((chunk) => chunk.chunk) };
      })
      .catch(async (error: unknown): Promise<CreateOutcome> => {
        if (!(error instanceof KeyTaken)) throw error;
        // Another request with this key committed first: its broadcast is the answer.
        const existing = await this.findByKey(broadcast.idempotencyKey!);
        if (existing === null) throw new Error('An Idempotency-Key conflicted with a broadcast that is gone');
        return { outcome: 'exists', ...existing };
      });
  }

  async status(id: string): Promise<BroadcastStatus | null> {
    const [row] = await this.database.rows(SYSTEM_MESSAGES_SQL.status, [id]);
    return row ?? null;
  }

  /** Cancels it if queued or running; its status afterwards, null if there is no such broadcast. */
  async cancel(id: string): Promise<BroadcastStatus | null> {
    await this.database.run(SYSTEM_MESSAGES_SQL.cancel, [id]);
    return this.status(id);
  }
}

class KeyTaken extends Error {}

async function insertChunks(tx: Queryable, broadcast: NewBroadcast): Promise<{ chunk: number; targeted: number }[]> {
  const chunks: { chunk: number; targeted: number }[] = [];
  if (broadcast.recipients === 'all') {
    // XUIDs start at 1: every user is after 0.
    for (let after = '0'; ;) {
      const [range] = await tx.rows(SYSTEM_MESSAGES_SQL.insertNextRangeChunk, [
        broadcast.id,
        chunks.length,
        after,
        broadcast.chunkSize,
      ]);
      if (range.last === null) return chunks;
      chunks.push({ chunk: chunks.length, targeted: range.targeted });
      after = range.last;
    }
  }
  for (let start = 0; start < broadcast.recipients.length; start += broadcast.chunkSize) {
    const xuids = broadcast.recipients.slice(start, start + broadcast.chunkSize);
    await tx.run(SYSTEM_MESSAGES_SQL.insertListChunk, [broadcast.id, chunks.length, xuids]);
    chunks.push({ chunk: chunks.length, targeted: xuids.length });
  }
  return chunks;
}
