import { Injectable } from '@nestjs/common';
import { Database, Queryable, statement } from '@app/shared/database';
import { AppError, ERRORS } from '@app/shared/errors';
import { Xuid } from '@app/shared/xuid';

export interface IdempotencyRecord {
  requestHash: string;
  completed: boolean;
  /** Seconds since the current holder claimed the key. */
  ageSeconds: number;
  expired: boolean;
  /** The holder's fence (see {@link IdempotencyClaim.fence}). */
  fence: string;
}

/**
 * A key held by one request. `fence` is the claim's `created_at` as text (to
 * the microsecond): taking over an abandoned key moves it, so only the
 * current holder can complete the key, and a holder that lost its claim
 * cannot store a second message.
 */
export interface IdempotencyClaim {
  senderXuid: Xuid;
  key: string;
  fence: string;
}

type Key = [senderXuid: Xuid, key: string];

/** The statements of Idempotency-Key handling, each one round trip. */
export const IDEMPOTENCY_SQL = {
  claim: statement<[...Key, requestHash: string, ttlSeconds: number], { fence: string }>(
    'idempotency.claim',
    `INSERT INTO idempotency_keys (sender_xuid, key, request_hash, created_at, expires_at)
     VALUES ($1, $2, $3, clock_timestamp(), clock_timestamp() + make_interval(secs => $4))
     ON CONFLICT DO NOTHING RETURNING created_at::text AS fence`,
  ),
  find: statement<Key, { request_hash: string; completed: boolean; age: number; expired: boolean; fence: string }>(
    'idempotency.find',
    `SELECT request_hash, status_code IS NOT NULL AS completed,
            extract(epoch FROM clock_timestamp() - created_at)::float8 AS age,
            expires_at <= clock_timestamp() AS expired, created_at::text AS fence
       FROM idempotency_keys WHERE sender_xuid = $1 AND key = $2`,
  ),
  // Moves the fence of a claim unanswered for too long to the taker, in one step.
  takeOver: statement<[...Key, fence: string, abandonedAfterSeconds: number], { fence: string }>(
    'idempotency.take-over',
    `UPDATE idempotency_keys SET created_at = clock_timestamp()
      WHERE sender_xuid = $1 AND key = $2 AND status_code IS NULL AND created_at = $3::timestamptz
        AND created_at <= clock_timestamp() - make_interval(secs => $4)
      RETURNING created_at::text AS fence`,
  ),
  // Inside the transaction that stores the message: only the holder completes.
  complete: statement<[...Key, fence: string, messageId: string]>(
    'idempotency.complete',
    `UPDATE idempotency_keys SET status_code = 200, message_id = $4
      WHERE sender_xuid = $1 AND key = $2 AND created_at = $3::timestamptz AND status_code IS NULL`,
  ),
  // A failed first request frees its own claim, never a taker's.
  release: statement<[...Key, fence: string]>(
    'idempotency.release',
    `DELETE FROM idempotency_keys
      WHERE sender_xuid = $1 AND key = $2 AND created_at = $3::timestamptz AND status_code IS NULL`,
  ),
  deleteExpired: statement<Key>(
    'idempotency.delete-expired',
    `DELETE FROM idempotency_keys WHERE sender_xuid = $1 AND key = $2 AND expires_at <= clock_timestamp()`,
  ),
} as const;

@Injectable()
export class IdempotencyRepository {
  constructor(private readonly database: Database) {}

  /** Claims the key for a first request; null when a record already holds it. */
  async claim(senderXuid: Xuid, key: string, requestHash: string, ttlSeconds: number): Promise<IdempotencyClaim | null> {
    const [row] = await this.database.rows(IDEMPOTENCY_SQL.claim, [senderXuid, key, requestHash, ttlSeconds]);
    return row ? { senderXuid, key, fence: row.fence } : null;
  }

  async find(senderXuid: Xuid, key: string): Promise<IdempotencyRecord | null> {
    const [row] = await this.database.rows(IDEMPOTENCY_SQL.find, [senderXuid, key]);
    if (!row) return null;
    return {
      requestHash: row.request_hash,
      completed: row.completed,
      ageSeconds: row.age,
      expired: row.expired,
      fence: row.fence,
    };
  }

  /** Takes over a claim whose holder has not answered for `abandonedAfterSeconds`; null if it moved on. */
  async takeOver(
    senderXuid: Xuid,
    key: string,
    seen: IdempotencyRecord,
    abandonedAfterSeconds: number,
  ): Promise<IdempotencyClaim | null> {
    const [row] = await this.database.rows(IDEMPOTENCY_SQL.takeOver, [senderXuid, key, seen.fence, abandonedAfterSeconds]);
    return row ? { senderXuid, key, fence: row.fence } : null;
  }

  /**
   * Marks the key done, inside the transaction that stores the message, so the
   * two never disagree. Throws (rolling the message back) when the claim was
   * taken over meanwhile: the taker sends it instead.
   */
  async complete(tx: Queryable, claim: IdempotencyClaim, messageId: string): Promise<void> {
    const { rowCount } = await tx.run(IDEMPOTENCY_SQL.complete, [claim.senderXuid, claim.key, claim.fence, messageId]);
    if (rowCount !== 1) {
      throw new AppError(
        ERRORS.DEPENDENCY_UNAVAILABLE,
        'This request took too long and another with the same Idempotency-Key took over; retry to get its result.',
        1,
      );
    }
  }

  /** Frees the key of a request that failed (nothing was sent). */
  async release(claim: IdempotencyClaim): Promise<void> {
    await this.database.run(IDEMPOTENCY_SQL.release, [claim.senderXuid, claim.key, claim.fence]);
  }

  async deleteExpired(senderXuid: Xuid, key: string): Promise<void> {
    await this.database.run(IDEMPOTENCY_SQL.deleteExpired, [senderXuid, key]);
  }
}
