import { Injectable } from '@nestjs/common';
import { Database, Queryable, statement } from '@app/shared/database';
import { MessageType } from '@app/shared/database/entities/message.entity';
import { Xuid } from '@app/shared/xuid';
import { IdempotencyClaim, IdempotencyRepository } from './idempotency.repository';

export interface NewMessage {
  id: string;
  senderXuid: Xuid;
  text: string;
  recipients: Xuid[];
  sent: Date;
  expiration: Date;
  requestId: string;
}

/** The statements of a send, for plan checks and the load benchmark's SQL floors. */
export const OUTBOX_SQL = {
  insertMessage: statement<
    [
      id: string,
      senderXuid: Xuid,
      messageType: MessageType,
      text: string,
      recipients: readonly Xuid[],
      sent: Date,
      expiration: Date,
      requestId: string,
    ]
  >(
    'outbox.insert-message',
    `INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, request_id)
     VALUES ($1, $2, $3, $4, $5::numeric[], $6, $7, $8)`,
  ),
  // The database's clock, ms: the one clock sends are charged by (as resolveRecipients reads it).
  clock: statement<[], { now_ms: number }>(
    'outbox.clock',
    `SELECT floor(extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms`,
  ),
} as const;

@Injectable()
export class OutboxRepository {
  constructor(
    private readonly database: Database,
    private readonly idempotency: IdempotencyRepository,
  ) {}

  /**
   * The durable record of an accepted send: once this returns, the message
   * will be delivered. An Idempotency-Key is completed in the same transaction,
   * so a key is never left unanswered for a message that was stored.
   */
  /** Now, ms, by the database's clock. */
  async now(): Promise<number> {
    const [row] = await this.database.rows(OUTBOX_SQL.clock, []);
    return row.now_ms;
  }

  async insertMessage(message: NewMessage, claim: IdempotencyClaim | null): Promise<void> {
    if (claim === null) {
      await insert(this.database, message);
      return;
    }
    await this.database.transaction(async (tx) => {
      await insert(tx, message);
      await this.idempotency.complete(tx, claim, message.id);
    });
  }
}

function insert(target: Queryable, message: NewMessage): Promise<unknown> {
  return target.run(OUTBOX_SQL.insertMessage, [
    message.id,
    message.senderXuid,
    MessageType.User,
    message.text,
    message.recipients,
    message.sent,
    message.expiration,
    message.requestId,
  ]);
}
