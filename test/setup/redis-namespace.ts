import { randomBytes } from 'node:crypto';
import { Queue } from 'bullmq';
import Redis from 'ioredis';
import { DELIVERY_QUEUE } from '@app/shared/contracts';
import { redisOptionsFromUrl } from '@app/shared/redis';
import { testRedisPrefix, testRedisUrl } from './test-env';

/**
 * A Redis namespace of one test alone: services started with it as
 * REDIS_PREFIX have a private delivery queue and quota windows, so the test can
 * run with no worker or wipe its keys without touching other suites. It starts
 * with the run's prefix and a non-digit, so global teardown deletes it too.
 */
export function privateRedisPrefix(label: string): string {
  return `${testRedisPrefix()}-${label}-${randomBytes(4).toString('hex')}`;
}

/** Every key of the namespace (`<prefix>:...`, as BullMQ and quota name them), never anyone else's. */
export async function redisKeysOf(prefix: string): Promise<string[]> {
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  try {
    const keys: string[] = [];
    for await (const batch of redis.scanStream({ match: `${prefix}:*`, count: 1000 }) as AsyncIterable<string[]>) {
      keys.push(...batch);
    }
    return keys;
  } finally {
    redis.disconnect();
  }
}

/** Loses the namespace's state, as a Redis restart without persistence would: returns how many keys went. */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  const keys = await redisKeysOf(prefix);
  if (keys.length === 0) return 0;
  const redis = new Redis(testRedisUrl(), { maxRetriesPerRequest: 1 });
  try {
    for (let start = 0; start < keys.length; start += 500) await redis.unlink(...keys.slice(start, start + 500));
  } finally {
    redis.disconnect();
  }
  return keys.length;
}

/** The namespace's delivery queue, to inspect or add jobs as the gateway and sweeper do. */
export function deliveryQueue(prefix: string): Queue {
  return new Queue(DELIVERY_QUEUE, { connection: redisOptionsFromUrl(testRedisUrl()), prefix });
}
