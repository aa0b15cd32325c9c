import { RedisOptions } from 'ioredis';
import { SharedConfig } from '../config';
import { clusterNodes, createRedisClient, queuePrefix, RedisClient } from './redis-client';

export interface QueueOptions {
  connection: RedisOptions | RedisClient;
  prefix: string;
}

/** ioredis options for a redis:// or rediss:// URL (BullMQ takes options, not URLs). */
export function redisOptionsFromUrl(url: string): RedisOptions {
  const parsed = new URL(url);
  const db = parsed.pathname.length > 1 ? Number(parsed.pathname.slice(1)) : 0;
  return {
    host: parsed.hostname.replace(/^\[|\]$/g, ''),
    port: parsed.port ? Number(parsed.port) : 6379,
    username: parsed.username ? decodeURIComponent(parsed.username) : undefined,
    password: parsed.password ? decodeURIComponent(parsed.password) : undefined,
    db,
    tls: parsed.protocol === 'rediss:' ? {} : undefined,
  };
}

/**
 * BullMQ settings for a producer: the service's own fail-fast client (see
 * RedisModule), so commands fail at once while Redis is away (the gateway
 * leaves the job to the sweeper instead of hanging), and closing never fails
 * on a connection that is still reconnecting (BullMQ leaves a shared client to
 * its owner).
 */
export function producerQueueOptions(config: SharedConfig, client: RedisClient): QueueOptions {
  return { connection: client, prefix: queuePrefix(config) };
}

/**
 * BullMQ settings for a worker: it waits out Redis outages rather than failing
 * its blocking calls (BullMQ requires maxRetriesPerRequest: null), and keeps
 * auto-pipelining off.
 */
export function workerQueueOptions(config: SharedConfig): QueueOptions {
  const options: RedisOptions = {
    maxRetriesPerRequest: null,
    enableAutoPipelining: false,
    // BullMQ's default backs off to 20 s, so a worker could idle (and not
    // finish shutting down) that long after a Redis blip; 2 s at most here.
    retryStrategy: (attempt: number) => Math.min(attempt * 200, 2000),
  };
  // BullMQ makes a single-node client from options; a cluster must be handed
  // over as a Cluster instance (BullMQ duplicates it for blocking calls and
  // leaves it to its owner: see closeWorkerConnection).
  const connection = clusterNodes(config)
    ? createRedisClient(config, options)
    : { ...redisOptionsFromUrl(config.REDIS_URL), ...options };
  return { connection, prefix: queuePrefix(config) };
}

/** Closes a worker connection that BullMQ was handed as an instance (cluster); options need nothing. */
export async function closeWorkerConnection(options: QueueOptions): Promise<void> {
  const { connection } = options;
  if (!('duplicate' in connection)) return;
  await connection.quit().catch(() => connection.disconnect());
}
