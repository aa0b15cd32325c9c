import { Injectable } from '@nestjs/common';
import { DataSource, EntityManager } from 'typeorm';
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

@Injectable()
export class OutboxRepository {
  constructor(
    private readonly dataSource: DataSource,
    private readonly idempotency: IdempotencyRepository,
  ) {}

  /**
   * The durable record of an accepted send: once this returns, the message
   * will be delivered. An Idempotency-Key is completed in the same transaction,
   * so a key is never left unanswered for a message that was stored.
   */
  async insertMessage(message: NewMessage, claim: IdempotencyClaim | null): Promise<void> {
    if (claim === null) {
      await this.insert(this.dataSource.manager, message);
      return;
    }
    await this.dataSource.transaction(async (manager) => {
      await this.insert(manager, message);
      await this.idempotency.complete(manager, claim, message.id);
    });
  }

  private async insert(manager: EntityManager, message: NewMessage): Promise<void> {
    await manager.query(
      `INSERT INTO messages (id, sender_xuid, message_type, text, recipients, sent, expiration, request_id)
       VALUES ($1, $2, $3, $4, $5::numeric[], $6, $7, $8)`,
      [
        message.id,
        message.senderXuid,
        MessageType.User,
        message.text,
        message.recipients,
        message.sent,
        message.expiration,
        message.requestId,
      ],
    );
  }
}
