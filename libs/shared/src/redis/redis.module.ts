import { DynamicModule, Inject, Injectable, Logger, Module, OnApplicationShutdown } from '@nestjs/common';
import { RedisOptions } from 'ioredis';
import { SharedConfig } from '../config';
import { createRedisClient, RedisClient } from './redis-client';

export const REDIS_CLIENT = 'REDIS_CLIENT';

/** Injects the service's shared ioredis client (a Cluster client when REDIS_CLUSTER_NODES is set). */
export const InjectRedis = (): ParameterDecorator => Inject(REDIS_CLIENT);

/**
 * Options for request-path clients: commands fail at once while Redis is away
 * instead of queueing, so callers can answer 503 rather than hang.
 */
export const FAIL_FAST_REDIS_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 1,
  connectTimeout: 2000,
};

@Injectable()
class RedisShutdown implements OnApplicationShutdown {
  constructor(@InjectRedis() private readonly redis: RedisClient) {}

  async onApplicationShutdown(): Promise<void> {
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

@Module({})
export class RedisModule {
  static forRoot(config: SharedConfig): DynamicModule {
    return {
      module: RedisModule,
      global: true,
      providers: [
        {
          provide: REDIS_CLIENT,
          useFactory: () => {
            const client = createRedisClient(config, FAIL_FAST_REDIS_OPTIONS);
            const logger = new Logger('Redis');
            let lastError = '';
            // ioredis retries by itself; log each new kind of failure once, not every retry.
            client.on('error', (error: Error) => {
              if (error.message !== lastError) logger.warn(`Redis connection problem: ${error.message}`);
              lastError = error.message;
            });
            client.on('ready', () => (lastError = ''));
            return client;
          },
        },
        RedisShutdown,
      ],
      exports: [REDIS_CLIENT],
    };
  }
}
