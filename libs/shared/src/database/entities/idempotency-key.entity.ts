import { Column, CreateDateColumn, Entity, Index, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { MESSAGE_ID_COLUMN } from './message.entity';
import { XUID_COLUMN } from './xuid-column';

/**
 * The outcome of a send made with an Idempotency-Key header, so that a retry
 * with the same key and body gets the first result instead of a second send.
 * `statusCode` is null while the first request is still in flight.
 */
@Entity('idempotency_keys')
@Index('idempotency_keys_expires_at_idx', ['expiresAt'])
export class IdempotencyKeyEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'sender_xuid' })
  senderXuid: Xuid;

  @PrimaryColumn({ name: 'key', type: 'varchar', length: 255 })
  key: string;

  /** SHA-256 of the canonical request, hex. */
  @Column({ name: 'request_hash', type: 'char', length: 64 })
  requestHash: string;

  @Column({ name: 'status_code', type: 'smallint', nullable: true })
  statusCode: number | null;

  @Column({ name: 'response', type: 'jsonb', nullable: true })
  response: Record<string, unknown> | null;

  @Column({ ...MESSAGE_ID_COLUMN, name: 'message_id', nullable: true })
  messageId: string | null;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  @Column({ name: 'expires_at', type: 'timestamptz' })
  expiresAt: Date;
}
