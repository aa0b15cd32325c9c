import { Check, Column, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { UserEntity } from './user.entity';
import { XUID_CHECK, XUID_COLUMN } from './xuid-column';

/** The message types of the original service; sends through this API create `User`. */
export enum MessageType {
  User = 'User',
  System = 'System',
  FriendRequest = 'FriendRequest',
  Video = 'Video',
  QuickChat = 'QuickChat',
  VideoChat = 'VideoChat',
  PartyChat = 'PartyChat',
  Title = 'Title',
  GameInvite = 'GameInvite',
}

/**
 * Message ids are fixed-width and time-ordered; the "C" collation makes
 * Postgres compare them byte by byte, so newer ids sort after older ones.
 */
export const MESSAGE_ID_COLUMN = { type: 'varchar', length: 50, collation: 'C' } as const;

/**
 * The durable record of an accepted send. It is written before the sender gets
 * 200 and is the source of truth for delivery: a message with no `deliveredAt`
 * is re-enqueued by the sweeper whatever happened to its queue job.
 */
@Entity('messages')
@Check('messages_sender_xuid_range', XUID_CHECK('sender_xuid'))
@Check('messages_text_not_empty', `char_length("text") >= 1`)
// A system message (a broadcast) has no sender in the directory: its sender
// is the configured system identity, kept on its broadcast row.
@Check('messages_user_has_sender', `"sender_xuid" IS NOT NULL OR "message_type" <> 'User'`)
@Index('messages_undelivered_idx', ['sent'], { where: '"delivered_at" IS NULL' })
@Index('messages_expiration_idx', ['expiration'])
export class MessageEntity {
  @PrimaryColumn(MESSAGE_ID_COLUMN)
  id: string;

  /** Null for a system message (its broadcast row carries the system identity). */
  @Column({ ...XUID_COLUMN, name: 'sender_xuid', nullable: true })
  senderXuid: Xuid | null;

  @Column({ name: 'message_type', type: 'varchar', length: 16, default: MessageType.User })
  messageType: MessageType;

  @Column({ type: 'text' })
  text: string;

  /** A system message's subject, shown as its summary; null for user messages. */
  @Column({ type: 'varchar', length: 20, nullable: true })
  subject: string | null;

  /**
   * Resolved, distinct recipient XUIDs, fixed at acceptance. Empty for a
   * system message: its recipients are its broadcast's chunks.
   */
  @Column({ ...XUID_COLUMN, array: true })
  recipients: Xuid[];

  @Column({ type: 'timestamptz' })
  sent: Date;

  @Column({ type: 'timestamptz' })
  expiration: Date;

  @Column({ name: 'delivered_at', type: 'timestamptz', nullable: true })
  deliveredAt: Date | null;

  /** The request id of the send, carried into delivery logs. */
  @Column({ name: 'request_id', type: 'varchar', length: 64, nullable: true })
  requestId: string | null;

  @ManyToOne(() => UserEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'sender_xuid', foreignKeyConstraintName: 'messages_sender_fk' })
  sender?: UserEntity;
}
