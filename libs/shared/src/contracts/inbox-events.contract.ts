/**
 * Inbox events, published on Redis pub/sub by whoever changed an inbox (the
 * delivery service for new entries, the gateway for reads and deletes) after
 * the change committed, and relayed by every gateway to the open event streams
 * of that inbox (docs/api.md, Inbox events). A lost event is never lost data:
 * streams fill any gap in `sequence` from Postgres, and a reconnect replays
 * from Postgres too.
 */

/**
 * The pub/sub channel of one inbox: one channel per recipient, so a gateway
 * receives only the events of the players streaming from it. The XUID is a
 * hash tag, so the same names work with sharded pub/sub on a cluster.
 */
export const inboxEventChannel = (redisPrefix: string, xuid: string): string => `${redisPrefix}:inbox-events:{${xuid}}`;

/** A new entry as a listing shows it (the gateway's `InboxListEntry`), unread. */
export interface PublishedEntry {
  messageId: string;
  /** Milliseconds since the epoch, as decimal digits. */
  expirationMillis: string;
  senderXuid: string;
  sender: string;
  messageType: string;
  summary: string;
}

export type InboxEvent =
  /** `sequence`: the entry's place in its inbox's delivery order (inbox_entries.sequence). */
  | { kind: 'message'; sequence: number; entry: PublishedEntry }
  | { kind: 'read' | 'unread' | 'deleted'; messageIds: string[] }
  /** Streams (by id) that must close: a newer stream of the same player took their place. */
  | { kind: 'superseded'; streamIds: string[] };
