import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { XUID_COLUMN } from './xuid-column';

/**
 * The number of entries in one inbox, and of its unread ones, kept in step
 * with inserts, deletes and read-state changes in the same statements, so
 * totalItems and unreadItems never need COUNT(*) over the inbox.
 * Entries past their expiration but not yet purged are still counted here;
 * readers subtract them with a bounded index scan.
 */
@Entity('inbox_counters')
@Check('inbox_counters_not_negative', `"total_items" >= 0`)
@Check('inbox_counters_unread_not_negative', `"unread_items" >= 0`)
export class InboxCounterEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'recipient_xuid' })
  recipientXuid: Xuid;

  @Column({ name: 'total_items', type: 'integer', default: 0 })
  totalItems: number;

  /** Entries with is_read false (expired ones not purged yet included). */
  @Column({ name: 'unread_items', type: 'integer', default: 0 })
  unreadItems: number;

  /**
   * The last delivery sequence handed out in this inbox (see
   * `InboxEntryEntity.sequence`); never goes down, so an event id stays
   * meaningful after the entries it names are deleted.
   */
  @Column({ name: 'last_sequence', type: 'bigint', default: 0 })
  lastSequence: string;
}
