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
}
