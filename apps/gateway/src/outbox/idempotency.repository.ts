import { Injectable } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { Queryable, statement } from '@app/shared/database';
import { Xuid } from '@app/shared/xuid';

export interface IdempotencyRecord {
  requestHash: string;
  completed: boolean;
  /** Seconds since the first request claimed the key. */
  ageSeconds: number;
  expired: boolean;
}

export interface IdempotencyClaim {
  senderXuid: Xuid;
  key: string;
}

const COMPLETE = statement<[senderXuid: Xuid, key: string, messageId: string]>(
  'idempotency.complete',
  `UPDATE idempotency_keys SET status_code = 200, message_id = $3 WHERE sender_xuid = $1 AND key = $2`,
);

@Injectable()
export class IdempotencyRepository {
  constructor(private readonly dataSource: DataSource) {}

  /** Claims the key for a first request; false when a record already holds it. */
  async claim(claim: IdempotencyClaim, requestHash: string, ttlSeconds: number): Promise<boolean> {
    const rows: unknown[] = await this.dataSource.query(
      `INSERT INTO idempotency_keys (sender_xuid, key, request_hash, expires_at)
       VALUES ($1, $2, $3, now() + make_interval(secs => $4))
       ON CONFLICT DO NOTHING RETURNING key`,
      [claim.senderXuid, claim.key, requestHash, ttlSeconds],
    );
    return rows.length === 1;
  }

  async find(claim: IdempotencyClaim): Promise<IdempotencyRecord | null> {
    const rows: { request_hash: string; status_code: number | null; age: number; expired: boolean }[] =
      await this.dataSource.query(
        `SELECT request_hash, status_code, extract(epoch FROM now() - created_at)::float8 AS age,
                expires_at <= now() AS expired
           FROM idempotency_keys WHERE sender_xuid = $1 AND key = $2`,
        [claim.senderXuid, claim.key],
      );
    if (rows.length === 0) return null;
    const [row] = rows;
    return { requestHash: row.request_hash, completed: row.status_code !== null, ageSeconds: row.age, expired: row.expired };
  }

  /** Marks the key done, inside the transaction that stores the message, so the two never disagree. */
  async complete(tx: Queryable, claim: IdempotencyClaim, messageId: string): Promise<void> {
    await tx.run(COMPLETE, [claim.senderXuid, claim.key, messageId]);
  }

  /** Frees a key whose request failed (nothing was sent), or whose record expired or was abandoned. */
  async release(claim: IdempotencyClaim, condition: 'in-flight' | 'expired' | 'stale', staleAfterSeconds = 0): Promise<void> {
    const where = {
      'in-flight': 'status_code IS NULL',
      expired: 'expires_at <= now()',
      stale: `status_code IS NULL AND created_at <= now() - make_interval(secs => ${Number(staleAfterSeconds)})`,
    }[condition];
    await this.dataSource.query(`DELETE FROM idempotency_keys WHERE sender_xuid = $1 AND key = $2 AND ${where}`, [
      claim.senderXuid,
      claim.key,
    ]);
  }
}
