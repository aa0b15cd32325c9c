import { Check, Column, Entity, PrimaryColumn } from 'typeorm';
import { Xuid } from '../../xuid';
import { XUID_COLUMN } from './xuid-column';

/**
 * The number of entries in one inbox, kept in step with inserts and deletes in
 * the same transactions, so totalItems never needs COUNT(*) over the inbox.
 * Entries past their expiration but not yet purged are still counted here;
 * readers subtract them with a bounded index scan.
 */
@Entity('inbox_counters')
@Check('inbox_counters_not_negative', `"total_items" >= 0`)
export class InboxCounterEntity {
  @PrimaryColumn({ ...XUID_COLUMN, name: 'recipient_xuid' })
  recipientXuid: Xuid;

  @Column({ name: 'total_items', type: 'integer', default: 0 })
  totalItems: number;

  /**
   * The last delivery sequence handed out in this inbox (see
   * `InboxEntryEntity.sequence`); never goes down, so an event id stays
   * meaningful after the entries it names are deleted.
   */
  @Column({ name: 'last_sequence', type: 'bigint', default: 0 })
  lastSequence: string;
}
