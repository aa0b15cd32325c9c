import { Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { MESSAGE_ID_COLUMN, MessageEntity, MessageType } from './message.entity';
import { XUID_COLUMN } from './xuid-column';

/**
 * One message in one recipient's inbox, carrying everything a listing shows so
 * that a page is one index range scan with no join. The primary key makes
 * delivery idempotent: one entry per (recipient, message), however often a job
 * runs.
 */
@Entity('inbox_entries')
@Index('inbox_entries_page_idx', ['recipientXuid', 'sent', 'messageId'])
@Index('inbox_entries_recipient_expiration_idx', ['recipientXuid', 'expiration'])
@Index('inbox_entries_message_idx', ['messageId'])
export class InboxEntryEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'recipient_xuid' })
  recipientXuid: Xuid;

  @PrimaryColumn({ ...MESSAGE_ID_COLUMN, name: 'message_id' })
  messageId: string;

  @Column({ type: 'timestamptz' })
  sent: Date;

  @Column({ type: 'timestamptz' })
  expiration: Date;

  @Column({ name: 'is_read', type: 'boolean', default: false })
  isRead: boolean;

  @Column({ ...XUID_COLUMN, name: 'sender_xuid' })
  senderXuid: Xuid;

  /** The sender's gamertag at delivery time, as they registered it. */
  @Column({ name: 'sender_gamertag', type: 'varchar', length: 15 })
  senderGamertag: string;

  @Column({ name: 'message_type', type: 'varchar', length: 16 })
  messageType: MessageType;

  /** First 20 code points of the text, or a system message's subject. */
  @Column({ type: 'varchar', length: 20 })
  summary: string;

  @ManyToOne(() => MessageEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'message_id', foreignKeyConstraintName: 'inbox_entries_message_fk' })
  message?: MessageEntity;
}
