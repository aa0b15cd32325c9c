import { Check, Column, CreateDateColumn, Entity, Index, JoinColumn, ManyToOne, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { MESSAGE_ID_COLUMN, MessageEntity } from './message.entity';
import { XUID_COLUMN } from './xuid-column';

export enum BroadcastState {
  Queued = 'queued',
  Running = 'running',
  Done = 'done',
  Cancelled = 'cancelled',
}

export const BROADCAST_STATES = Object.values(BroadcastState);

/** Who a broadcast was addressed to: a list of XUIDs, or every user in the directory at the call. */
export enum BroadcastAudience {
  List = 'list',
  All = 'all',
}

/**
 * A system message sent to many inboxes (docs/api.md, System messages). Its
 * text, expiration and purge are its `messages` row's (same id); its
 * recipients are its chunks, written one statement each by the delivery
 * workers. The sender shown is the system identity configured when it was
 * accepted, kept here so a change of configuration mid-broadcast does not
 * split it.
 */
@Entity('broadcasts')
@Check('broadcasts_state_valid', `"state" IN ('queued', 'running', 'done', 'cancelled')`)
@Check('broadcasts_audience_valid', `"audience" IN ('list', 'all')`)
@Index('broadcasts_unfinished_idx', ['createdAt'], { where: `"state" IN ('queued', 'running')` })
export class BroadcastEntity {
  @PrimaryColumn(MESSAGE_ID_COLUMN)
  id: string;

  @Column({ type: 'varchar', length: 20 })
  subject: string;

  @Column({ ...XUID_COLUMN, name: 'sender_xuid' })
  senderXuid: Xuid;

  @Column({ name: 'sender_gamertag', type: 'varchar', length: 15 })
  senderGamertag: string;

  @Column({ type: 'varchar', length: 4 })
  audience: BroadcastAudience;

  @Column({ type: 'varchar', length: 9, default: BroadcastState.Queued })
  state: BroadcastState;

  /** Recipients at the call (the list, or the directory's users then). */
  @Column({ type: 'integer' })
  targeted: number;

  @Column({ type: 'integer' })
  chunks: number;

  @CreateDateColumn({ name: 'created_at', type: 'timestamptz' })
  createdAt: Date;

  /** When it became done or cancelled. */
  @Column({ name: 'finished_at', type: 'timestamptz', nullable: true })
  finishedAt: Date | null;

  /** The Idempotency-Key it was created with: a retry with the same key finds it. */
  @Index('broadcasts_idempotency_key', { unique: true })
  @Column({ name: 'idempotency_key', type: 'varchar', length: 255, nullable: true })
  idempotencyKey: string | null;

  /** SHA-256 of the canonical request body, hex, when created with an Idempotency-Key. */
  @Column({ name: 'request_hash', type: 'char', length: 64, nullable: true })
  requestHash: string | null;

  @ManyToOne(() => MessageEntity, { onDelete: 'CASCADE' })
  @JoinColumn({ name: 'id', foreignKeyConstraintName: 'broadcasts_message_fk' })
  message?: MessageEntity;
}

/**
 * A part of a broadcast's recipients, written in one statement: either an
 * inclusive range of the users primary key (`all`: the directory at the call,
 * cut into ranges of BROADCAST_CHUNK_SIZE users) or a sorted list of XUIDs.
 * `doneAt` is set in the statement that writes its entries, so a chunk is
 * written once however often its job runs; the inbox primary key makes even a
 * repeat harmless.
 */
@Entity('broadcast_chunks')
@Check('broadcast_chunks_one_form', `("xuids" IS NULL) <> ("first_xuid" IS NULL AND "last_xuid" IS NULL)`)
export class BroadcastChunkEntity {
  @PrimaryColumn({ ...MESSAGE_ID_COLUMN, name: 'broadcast_id' })
  broadcastId: string;

  @PrimaryColumn({ type: 'integer' })
  chunk: number;

  @Column({ ...XUID_COLUMN, name: 'first_xuid', nullable: true })
  firstXuid: Xuid | null;

  @Column({ ...XUID_COLUMN, name: 'last_xuid', nullable: true })
  lastXuid: Xuid | null;

  @Column({ ...XUID_COLUMN, array: true, nullable: true })
  xuids: Xuid[] | null;

  /** Recipients of this chunk at the call. */
  @Column({ type: 'integer' })
  targeted: number;

  /** Entries its statement inserted; null until it ran. */
  @Column({ type: 'integer', nullable: true })
  written: number | null;

  @Column({ name: 'done_at', type: 'timestamptz', nullable: true })
  doneAt: Date | null;

  /** When the purge removed its entries (after the message expired). */
  @Column({ name: 'purged_at', type: 'timestamptz', nullable: true })
  purgedAt: Date | null;

  @JoinColumn({ name: 'broadcast_id', foreignKeyConstraintName: 'broadcast_chunks_broadcast_fk' })
  @ManyToOne(() => BroadcastEntity, { onDelete: 'CASCADE' })
  broadcast?: BroadcastEntity;
}
