import Redis, { Cluster, ClusterNode, RedisOptions } from 'ioredis';
import { SharedConfig } from '../config';

/** A single Redis server or a Redis Cluster: every Redis user takes either. */
export type RedisClient = Redis | Cluster;

/** REDIS_CLUSTER_NODES as ioredis seeds; undefined when the service talks to one server (REDIS_URL). */
export function clusterNodes(config: Pick<SharedConfig, 'REDIS_CLUSTER_NODES'>): ClusterNode[] | undefined {
  if (!config.REDIS_CLUSTER_NODES) return undefined;
  return config.REDIS_CLUSTER_NODES.split(',').map((seed) => {
    const at = seed.lastIndexOf(':');
    return { host: seed.slice(0, at).replace(/^\[|\]$/g, ''), port: Number(seed.slice(at + 1)) };
  });
}

/**
 * BullMQ's key prefix. On a cluster a queue's keys must share one slot (its
 * Lua scripts touch several at once), so the prefix is one hash tag:
 * `{xblmsg}`, the same for the three queues. Single-node keeps the bare
 * prefix: renaming it would orphan jobs already queued.
 */
export function queuePrefix(config: Pick<SharedConfig, 'REDIS_PREFIX' | 'REDIS_CLUSTER_NODES'>): string {
  return config.REDIS_CLUSTER_NODES ? `{${config.REDIS_PREFIX}}` : config.REDIS_PREFIX;
}

/**
 * A client with `options` for REDIS_URL, or, when REDIS_CLUSTER_NODES is set,
 * a Cluster client over those seeds with the same options for every node
 * (credentials and TLS still come from REDIS_URL; its host, port and database
 * are not used: a cluster has only database 0).
 */
export function createRedisClient(config: SharedConfig, options: RedisOptions): RedisClient {
  const nodes = clusterNodes(config);
  if (!nodes) return new Redis(config.REDIS_URL, options);
  const url = new URL(config.REDIS_URL);
  const { enableOfflineQueue, ...nodeOptions } = options;
  return new Cluster(nodes, {
    enableOfflineQueue,
    // Hands commands for a failed master's slots on quickly while a replica is promoted.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 200,
    // No CLUSTER INFO check before 'ready'. When it fails (cluster_state:fail,
    // the second or so before a replica takes over), ioredis reconnects from
    // scratch and the connect() that ran it never settles; BullMQ awaits that
    // connect() when it renews a worker's blocking connection, and the worker
    // then stops taking jobs for good (the maintenance queue's sweeper first:
    // it is the idle one). Without the check, commands sent while the cluster
    // says fail meet CLUSTERDOWN and are retried (retryDelayOnClusterDown).
    enableReadyCheck: false,
    redisOptions: {
      ...nodeOptions,
      username: url.username ? decodeURIComponent(url.username) : undefined,
      password: url.password ? decodeURIComponent(url.password) : undefined,
      tls: url.protocol === 'rediss:' ? {} : undefined,
    },
  });
}

/**
 * A new connection like `client` with `options` on top (a subscriber, say):
 * Redis and Cluster both duplicate, but take their options differently.
 */
export function duplicateClient(client: RedisClient, options: RedisOptions): RedisClient {
  if (!(client instanceof Cluster)) return client.duplicate(options);
  const { enableOfflineQueue, lazyConnect, ...nodeOptions } = options;
  return client.duplicate(undefined, {
    ...(enableOfflineQueue === undefined ? {} : { enableOfflineQueue }),
    ...(lazyConnect === undefined ? {} : { lazyConnect }),
    redisOptions: { ...client.options.redisOptions, ...nodeOptions },
  });
}
