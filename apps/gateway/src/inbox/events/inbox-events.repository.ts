import { Injectable } from '@nestjs/common';
import { Database, statement } from '@app/shared/database';
import { Xuid } from '@app/shared/xuid';
import { InboxListEntry, LIST_COLUMNS } from '../inbox.repository';

/** An entry to replay, with its place in the inbox's delivery order. */
export interface ReplayEntry extends InboxListEntry {
  sequence: string;
}

export const INBOX_EVENTS_SQL = {
  // Where a new stream starts: the last sequence number delivery handed out in this inbox.
  position: statement<[recipient: Xuid], { last: string }>(
    'inbox-events.position',
    `SELECT coalesce((SELECT c.last_sequence FROM inbox_counters c WHERE c.recipient_xuid = $1::numeric), 0)::text AS last`,
  ),
  // The unexpired entries delivered after `after`, in delivery order: a range
  // of inbox_entries_sequence_idx. Deleted entries are simply not there.
  replay: statement<[recipient: Xuid, after: number, limit: number], ReplayEntry>(
    'inbox-events.replay',
    `SELECT e.sequence::text AS sequence, ${LIST_COLUMNS}
       FROM inbox_entries e
      WHERE e.recipient_xuid = $1::numeric AND e.sequence > $2::int8 AND e.expiration > now()
      ORDER BY e.sequence
      LIMIT $3`,
  ),
} as const;

@Injectable()
export class InboxEventsRepository {
  constructor(private readonly database: Database) {}

  async position(recipient: Xuid): Promise<number> {
    const [row] = await this.database.rows(INBOX_EVENTS_SQL.position, [recipient]);
    return Number(row.last);
  }

  replay(recipient: Xuid, after: number, limit: number): Promise<ReplayEntry[]> {
    return this.database.rows(INBOX_EVENTS_SQL.replay, [recipient, after, limit]);
  }
}
