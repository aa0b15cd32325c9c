import { decodeTime, monotonicFactory } from 'ulid';

/**
 * Message ids are ULIDs: 26 characters of Crockford base32, the first 10 the
 * send time in milliseconds. A message's `sent` is that time, so ordering by
 * id is ordering by sent time (ties by id), which is what lets the inbox's
 * primary key serve its listing order.
 */
export type MessageIdFactory = (sentMillis?: number) => string;

/** Ids strictly increasing within this process, even within one millisecond. */
export const messageIdFactory = (): MessageIdFactory => monotonicFactory();

/** The send time of a message, in milliseconds since the epoch, read from its id. */
export const sentOfMessageId = (id: string): number => decodeTime(id);
