import { Column, Entity, Index, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { MESSAGE_ID_COLUMN, MessageType } from './message.entity';
import { XUID_COLUMN } from './xuid-column';

/**
 * One message in one recipient's inbox, carrying everything a listing shows so
 * that a page is one index range scan with no join. The primary key makes
 * delivery idempotent (one entry per recipient and message, however often a
 * job runs) and is also the listing order: message ids sort by their send
 * time, which is why no `sent` column is kept here (see `sentOfMessageId`).
 * No foreign key to messages: the purge removes a message and its entries in
 * one transaction, and a key would cost a lookup per delivered entry.
 */
@Entity('inbox_entries')
@Index('inbox_entries_recipient_expiration_idx', ['recipientXuid', 'expiration'])
@Index('inbox_entries_sequence_idx', ['recipientXuid', 'sequence'])
export class InboxEntryEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'recipient_xuid' })
  recipientXuid: Xuid;

  @PrimaryColumn({ ...MESSAGE_ID_COLUMN, name: 'message_id' })
  messageId: string;

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

  /**
   * The entry's place in its inbox's delivery order (1, 2, ...: the counter's
   * `last_sequence` at delivery), which the event stream replays by. Null for
   * entries delivered before streams existed.
   */
  @Column({ type: 'bigint', nullable: true })
  sequence: string | null;
}
