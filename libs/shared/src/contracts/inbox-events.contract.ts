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

/**
 * The one channel every gateway subscribes to, for a broadcast chunk's entries
 * (thousands of inboxes at once): one PUBLISH per chunk instead of one per
 * recipient, which measured half of a broadcast's cost. Each gateway relays the
 * entries of the recipients streaming from it and ignores the rest.
 */
export const inboxFanOutChannel = (redisPrefix: string): string => `${redisPrefix}:inbox-events:fan-out`;

/** What the fan-out channel carries: one entry, its recipients and their sequence numbers (`recipients[i]` got `sequences[i]`). */
export interface InboxFanOut {
  entry: PublishedEntry;
  recipients: string[];
  sequences: number[];
}

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
