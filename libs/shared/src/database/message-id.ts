import { randomFillSync } from 'node:crypto';
import { decodeTime, monotonicFactory, PRNG } from 'ulid';

/**
 * Message ids are ULIDs: 26 characters of Crockford base32, the first 10 the
 * send time in milliseconds. A message's `sent` is that time, so ordering by
 * id is ordering by sent time (ties by id), which is what lets the inbox's
 * primary key serve its listing order.
 */
export type MessageIdFactory = (sentMillis?: number) => string;

const POOL_BYTES = 4096;

/**
 * The same cryptographic randomness as ulid's default, drawn from a pool:
 * the default asks the kernel for one byte per character, 16 calls per id.
 */
export function pooledRandom(): PRNG {
  const pool = Buffer.allocUnsafe(POOL_BYTES);
  let next = POOL_BYTES;
  return () => {
    if (next === POOL_BYTES) {
      randomFillSync(pool);
      next = 0;
    }
    return pool[next++] / 256;
  };
}

/** Ids strictly increasing within this process, even within one millisecond. */
export const messageIdFactory = (): MessageIdFactory => monotonicFactory(pooledRandom());

/** The send time of a message, in milliseconds since the epoch, read from its id. */
export const sentOfMessageId = (id: string): number => decodeTime(id);
